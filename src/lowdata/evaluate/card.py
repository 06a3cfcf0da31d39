"""The model card: README.md in a run's model/ folder, written from the run's config.yaml and metrics.json.

    from lowdata.evaluate.card import write_card
    write_card("runs/sst2")      # -> runs/sst2/model/README.md (data, label budget, method, metrics with intervals)

Intervals: accuracy, a Wilson score interval (95%) over the test examples; NER entity F1, a percentile bootstrap
over test sentences (1,000 resamples, seed 0) from predictions.jsonl. Both say how far the test set's own sampling
moves the number, not how far another draw of the few labels would (that spread is usually larger: see seeds).
"""
from __future__ import annotations

import json
import math
import os

import numpy as np


def wilson(k: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n (Wilson 1927)."""
    if n <= 0:
        return (float("nan"), float("nan"))
    p = k / n
    c = (p + z * z / (2 * n)) / (1 + z * z / n)
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, c - h), min(1.0, c + h))


def entity_f1_interval(tags: list, preds: list, n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap (95%) of seqeval's default-mode micro F1, resampling sentences."""
    from seqeval.metrics.sequence_labeling import get_entities

    counts = []
    for t, p in zip(tags, preds):
        et, ep = set(get_entities(list(t))), set(get_entities(list(p)))
        counts.append((len(et & ep), len(ep), len(et)))
    if not counts:
        return (float("nan"), float("nan"))
    c = np.array(counts, dtype=np.float64)  # (S, 3): true positives, predicted, gold
    idx = np.random.default_rng(seed).integers(0, len(c), size=(n_boot, len(c)))
    tp, npred, ngold = (c[idx, j].sum(1) for j in range(3))
    f1 = np.where(npred + ngold > 0, 2 * tp / np.maximum(npred + ngold, 1), 0.0)
    return (float(np.percentile(f1, 2.5)), float(np.percentile(f1, 97.5)))


def _metrics_lines(run: str, m: dict) -> list[str]:
    lines = []
    for split in ("test", "dev"):
        r = m.get(split)
        if not isinstance(r, dict):
            continue
        if r.get("task") == "classify":
            lo, hi = wilson(r["accuracy"] * r["n"], r["n"])
            lines.append(f"| {split} | {r['n']} | accuracy {r['accuracy']:.4f} [{lo:.4f}, {hi:.4f}] | "
                         f"macro-F1 {r['macro_f1']:.4f} |")
        elif r.get("task") == "multilabel":
            lo, hi = wilson(r["subset_accuracy"] * r["n"], r["n"])
            lines.append(f"| {split} | {r['n']} | micro-F1 {r['micro_f1']:.4f}, subset accuracy "
                         f"{r['subset_accuracy']:.4f} [{lo:.4f}, {hi:.4f}] | macro-F1 {r['macro_f1']:.4f}, Hamming "
                         f"loss {r['hamming_loss']:.4f} |")
        elif r.get("task") == "ner":
            ci = ""
            recs = _predictions(run, split)
            if recs and all("tags" in x for x in recs):
                lo, hi = entity_f1_interval([x["tags"] for x in recs], [x["pred"] for x in recs])
                ci = f" [{lo:.4f}, {hi:.4f}]"
            lines.append(f"| {split} | {r.get('n', '?')} | entity F1 {r['f1']:.4f}{ci} | precision "
                         f"{r['precision']:.4f}, recall {r['recall']:.4f} |")
    return lines


def _predictions(run: str, split: str) -> list[dict]:
    path = os.path.join(run, "predictions.jsonl")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [r for r in map(json.loads, f) if r.get("split") == split]


def render_card(run: str, cfg: dict, m: dict, meta: dict) -> str:
    data, model = cfg.get("data", {}), cfg.get("model", {})
    task = meta["task"]
    pipe = "text-classification" if task == "classify" else "token-classification"
    if meta.get("multilabel"):
        task_note = (f" Multi-label: a sigmoid per label; a label applies when its probability reaches its threshold "
                     f"(chosen on {meta.get('thresholds_from', '?')}; in lowdata.json), which pipeline() does not "
                     f"apply: it returns the probabilities.")
    elif meta.get("ner_decode") == "viterbi":
        task_note = (" Tags are decoded as the most probable sequence the tag scheme allows (constrained Viterbi; "
                     "`lowdata predict` and `lowdata serve` do this), which pipeline() does not: it takes each "
                     "word's best tag alone.")
    else:
        task_note = ""
    labels = meta["labels"]
    dev_used = bool(data.get("dev")) or bool(data.get("dev_fraction"))
    budget = f"{m.get('n_train', '?')} labeled training examples"
    if data.get("k_per_class"):
        draw = data.get("sample_seed")
        draw = cfg.get("train", {}).get("seed") if draw is None else draw
        per = "label (at least)" if data.get("task") == "multilabel" else "class"
        budget += f" ({data['k_per_class']} per {per}, seeded draw {draw})"
    budget += "; a labeled dev split chose the checkpoint (its labels count too)" if dev_used else \
        "; no dev split: nothing outside these labels chose anything"
    method = m.get("method") or cfg.get("ssl", {}).get("method") or "fine-tuning"
    rows = _metrics_lines(run, m)
    load = ("import lowdata.hf  # registers the architecture; or pass trust_remote_code=True (runs "
            "modeling_lowdata.py from this folder)\n") if task == "classify" else ""
    return "\n".join([
        "---", "library_name: transformers", f"pipeline_tag: {pipe}", "tags: [lowdata]", "---", "",
        f"# {os.path.basename(os.path.abspath(run))}: a lowdata {'classifier' if task == 'classify' else 'tagger'}",
        "", f"Base encoder `{model.get('name', '?')}` ({meta['pooling']} pooling, max_length {meta['max_length']}); "
        f"method: {method}. {len(labels)} labels: {', '.join(f'`{x}`' for x in labels[:40])}"
        f"{' ...' if len(labels) > 40 else ''}.{task_note}", "",
        "## Use", "", "```python", load + "from transformers import pipeline",
        f"p = pipeline(\"{pipe}\", model=\"path/to/this/folder\"" +
        (", top_k=None)  # truncation=True to cut at max_length as lowdata does" if task == "classify" else ")"),
        "```", "", "or `lowdata predict --model path/to/this/folder -i texts.txt`.", "",
        "## Data and label budget", "", f"Training file `{data.get('train')}`: {budget}." +
        (f" Unlabeled text: `{data['unlabeled']}`." if data.get("unlabeled") else ""), "",
        "## Metrics", "", "| split | examples | score [95% interval] | more |", "|---|---:|---|---|", *rows,
        "" if rows else "(no labeled test split was given)", "",
        "Intervals: Wilson (accuracy) or a sentence bootstrap (entity F1): the test sample's uncertainty only.", "",
        "## Limitations", "",
        f"- Trained on {m.get('n_train', '?')} labeled examples: a different draw of as many labels can move test "
        "scores by several points; treat the metrics as one draw's.",
        f"- Texts past {meta['max_length']} tokens are cut (classification) or predicted in windows (NER).",
        "- The encoder's languages and biases carry over; check it on your own data before relying on it.", ""])


def write_card(run: str) -> str | None:
    """model/README.md for a finished run (None when the run has no model/ folder)."""
    import yaml

    from ..runs import write_text

    mdir = os.path.join(run, "model")
    if not os.path.exists(os.path.join(mdir, "lowdata.json")) or not os.path.exists(os.path.join(run, "metrics.json")):
        return None
    with open(os.path.join(mdir, "lowdata.json"), encoding="utf-8") as f:
        meta = json.load(f)
    with open(os.path.join(run, "metrics.json"), encoding="utf-8") as f:
        m = json.load(f)
    cfg = {}
    if os.path.exists(os.path.join(run, "config.yaml")):
        with open(os.path.join(run, "config.yaml"), encoding="utf-8") as f:
            cfg = yaml.safe_load(f) or {}
    path = os.path.join(mdir, "README.md")
    write_text(path, render_card(run, cfg, m, meta))
    return path
