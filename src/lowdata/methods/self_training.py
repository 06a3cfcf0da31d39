"""Pseudo-labeling / self-training (Lee 2013; Yarowsky 1995; as a teacher-student loop like Xie et al. 2020's
Noisy Student, where each round's student starts again from the backbone).

    metrics = self_train(cfg, splits)                          # cfg.self_training's settings (rounds, threshold...)
    metrics = self_train(cfg, splits, rounds=2, seed_graph="gcn")  # or overridden

Round r trains on the labeled data plus the pseudo-labeled examples chosen after round r-1, then predicts the
unlabeled pool and keeps the examples whose confidence >= threshold; with balance=True it keeps the same number
per class (the smallest class count among the confident ones, at most `max_per_class`), most confident first.
Each round writes `output_dir/round_<r>`; dev (never test) picks each round's checkpoint, and with
select_round="dev" (the default) also the final model: the round with the best dev accuracy (the first of equals), so
a round whose pseudo-labels made the model worse on dev is not the one returned. Without a dev split, and with
select_round="last", the last round is the final model. The returned metrics are that round's, with its index under
"selected_round" (marked `"selected": true` in self_training.json). Pseudo-label accuracy is logged when the true
labels of the pool are known (benchmarks: `splits["unlabeled_truth"]`).

Graph-seeded (`seed_graph="gcn"` or `"label_spreading"`): round 0 already trains on pseudo-labels, read off a graph
over the frozen encoder's embeddings of the labeled and unlabeled texts (ssl/graph.py: a GCN, Kipf & Welling 2017,
or label spreading, Zhou et al. 2003), so the first teacher is the graph, not a model fitted to a handful of labels;
later rounds relabel the pool with the fine-tuned model as usual. With threshold 0 and no max_per_class, the whole
pool is pseudo-labeled each round (balanced: as many per class as the rarest predicted class has).

First teacher chosen on dev (`seed_graph="auto"`, needs a dev split): round 0 trains two students, one on the labels
plus a GCN's pseudo-labels (as `seed_graph="gcn"`) and one on the labels alone (plain self-training's round 0), and
keeps the one with the better dev accuracy (the graph-seeded one on a tie); later rounds are taught by it as usual.
Whether a graph over the frozen encoder is a good first teacher depends on the task: on AG News topics it beats a
few-shot model by far, on SST-2 sentiment it is near chance on some draws and far ahead on others (bench/README.md),
and only labeled data held out from training can tell which holds. Costs one more round-0 training.

Class-balanced self-training (`portion=0.2`, Zou et al. 2018, "Unsupervised Domain Adaptation for Semantic
Segmentation via Class-Balanced Self-Training"): instead of one global threshold, the model's rounds keep the top
`portion` of each predicted class (portion + r * portion_step after round r), so a class the few-shot model is never
sure of still gets pseudo-labels (with one threshold and balance=True such a class empties the whole selection).
A graph-seeded round 0 still uses `threshold`. Deviation: the paper's per-class thresholds are read off pixel
predictions of a segmentation network; here off one prediction per text.

Graph + model teacher (`graph_ensemble=True`, needs `seed_graph`): after round 0 the teacher is the average of the
fine-tuned model's class probabilities and the graph's (computed once, over the frozen encoder), so each round's
pseudo-labels come from two views of the text, as in co-training (Blum & Mitchell, COLT 1998), where classifiers on
different views label data for each other. Deviation: the two views' predictions are averaged into one teacher
instead of each view labeling for the other, and the graph view is not retrained. The teacher's class
probabilities are the model's full softmax (not only the top class).

Refreshed graph (`graph_refresh=True`, needs `seed_graph`): after each round the graph is rebuilt over the *student's*
embeddings of the labeled and unlabeled texts (mean-pooled, as its classifier sees them) and the next round's
pseudo-labels are read off it, as in Iscen et al., CVPR 2019, "Label Propagation for Deep Semi-supervised Learning",
whose network's features are re-extracted and a kNN graph rebuilt and propagated before every epoch. With
`graph_ensemble` the teacher is the mean of the model's and the refreshed graph's probabilities. Deviations: the
rebuild is per round (a student trained from the backbone), not per epoch of one network; the graph method is
`seed_graph`'s (the paper diffuses labels with k=50); and pseudo-labels are chosen by `threshold`/balance instead
of being all kept with entropy-based certainty and class weights.

Graph + student prediction (`graph_predict=True`, needs `seed_graph`): after the last round, the dev and test
predictions are the mean of the final student's class probabilities (the selected round's) and the seed graph's,
the graph refitted over the frozen encoder with the dev and test texts joining the pool as unlabeled nodes
(transductive, like the frozen `gcn` method; their labels are never read). The two views' errors differ (a
fine-tuned network and a graph over a frozen sentence encoder), so their average is right more often than either,
the classic reason to combine co-trained classifiers (Blum & Mitchell 1998 multiply the two views' probabilities;
averaging here, as in `graph_ensemble`).
The ensemble's outputs (metrics.json, report.md, predictions.jsonl, confusion PNGs) go to output_dir/graph_predict;
the returned metrics are the ensemble's, with the final student's own under "student". The saved model/ is the
student alone: new texts outside the graph get the student's predictions, so this is for scoring a fixed set.
"""
from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, fields, replace

import numpy as np

from ..ssl.pseudo_label import pool_probs, select


def run(cfg, splits: dict | None = None, *, resume: bool = False, overwrite: bool = False,
        allow_changes: bool = False) -> dict:
    """Self-training as a method: the self_training section's settings -> self_train. Writes output_dir/round_<r>/ (one
    fine-tuning run per round), self_training.json, and, at the end, the final round's metrics.json, report.md and
    predictions.jsonl at the top, so every method's run directory has the same layout."""
    from .. import runs
    from ..backbone import check_model
    from ..data.splits import load_splits

    sc, out = cfg.self_training, cfg.output_dir
    check_model(cfg.model.name)
    runs.check(out, None, resume=resume, overwrite=overwrite, inputs=runs.data_inputs(cfg))
    splits = splits or load_splits(cfg.data, cfg.train.seed)
    # the lock, the policy and config.yaml as every run; the rounds keep the resume state, so no checkpoint/ here
    with runs.start(out, cfg, resume=resume, overwrite=overwrite, allow_changes=allow_changes,
                    inputs=runs.data_inputs(cfg), checkpoint=False):
        m = self_train(cfg, splits, resume=resume, overwrite=overwrite, allow_changes=allow_changes)
        m["final_run"] = m["self_training"][m["selected_round"]]["run"]  # the final model's run (round_<r>/)
        scored = os.path.join(out, "graph_predict" if sc.graph_predict else m["final_run"])  # the scores above
        if sc.graph_predict:
            m["scores_from"] = "graph_predict"
        for name in ("report.md", "predictions.jsonl"):
            with open(os.path.join(scored, name), encoding="utf-8") as f:
                runs.write_text(os.path.join(out, name), f.read())
        runs.write_json(os.path.join(out, "metrics.json"), m)  # last: it marks the whole run finished
        return m


def settings(cfg, overrides: dict):
    """cfg.self_training (the defaults when cfg is None) with keyword overrides (unknown names raise TypeError)."""
    from ..config import SelfTrainingConfig

    base = cfg.self_training if cfg is not None else SelfTrainingConfig()
    bad = sorted(set(overrides) - {f.name for f in fields(base)})
    if bad:
        raise TypeError(f"self_train got unknown settings {bad} (valid: {', '.join(f.name for f in fields(base))})")
    return replace(base, **overrides)


def check(s, splits: dict) -> None:
    """Each setting's range (config.validate: keyword overrides did not pass through a config), then the
    combinations that cannot run."""
    from ..config import ConfigError, validate

    validate(s, "self_training.")
    for flag in ("graph_ensemble", "graph_refresh", "graph_predict"):
        if getattr(s, flag) and s.seed_graph in (None, "auto"):
            raise ConfigError(f"self_training.{flag} needs self_training.seed_graph (gcn | label_spreading): the "
                              f"graph method it uses")
    if s.seed_graph == "auto" and (splits.get("dev") is None or splits["dev"].labels is None):
        raise ConfigError("self_training.seed_graph=auto picks the first teacher (graph or labels alone) by dev "
                          "accuracy: it needs a labeled dev split (data.dev); with none, choose gcn or leave "
                          "seed_graph unset")


def later_teacher(s) -> str:
    """Who labels the pool for rounds after the first: the model, the graph (rebuilt over the student), or both."""
    graph = ("student " if s.graph_refresh else "") + str(s.seed_graph)
    return "model+" + graph if s.graph_ensemble else graph if s.graph_refresh else "model"


@dataclass
class Graph:
    """The seed graph over the frozen encoder: its method, the labeled/pool embeddings, its pool probabilities."""
    method: str
    emb: tuple
    probs: np.ndarray
    names: list


def self_train(cfg, splits: dict, *, resume: bool = False, true_unlabeled_labels: list | None = None,
               overwrite: bool = False, allow_changes: bool = False, **overrides) -> dict:
    """Rounds of self-training (see the module docstring), with cfg.self_training's settings (keyword `overrides`
    replace them: rounds=2, seed_graph="gcn", ...). resume=True continues an interrupted run in cfg.output_dir: finished
    rounds (round_<r>/metrics.json) are read back, not retrained, an unfinished round resumes from its checkpoint,
    and the pseudo-labels in between are recomputed from the saved models (deterministic)."""
    from ..data import TextData

    s = settings(cfg, overrides)
    if splits.get("unlabeled") is None:
        raise ValueError("self-training needs splits['unlabeled']")
    check(s, splits)
    run_kw = {"overwrite": overwrite, "allow_changes": allow_changes}
    labeled, pool = splits["train"], splits["unlabeled"]
    truth = splits.get("unlabeled_truth") if true_unlabeled_labels is None else true_unlabeled_labels
    graph = _seed_graph(cfg, labeled, pool, s) if s.seed_graph else None
    chosen_i, chosen_t, chosen_y = [], [], []
    if graph is not None:
        from ..ssl.graph import seed_pseudo_labels

        data, chosen_i, _ = seed_pseudo_labels(labeled, pool, threshold=s.threshold, per_class=s.max_per_class,
                                               probs=graph.probs)
        chosen_t, chosen_y = data.texts, data.labels
    history, round_metrics = [], []
    for r in range(s.rounds):
        c = copy.deepcopy(cfg)
        c.output_dir = os.path.join(cfg.output_dir, f"round_{r}")
        train = TextData(labeled.texts + chosen_t, labeled.labels + chosen_y, source=labeled.source)
        first, candidates = s.seed_graph, None
        if r == 0 and s.seed_graph == "auto":  # two round-0 students, graph-seeded and labels-only; dev keeps one
            c, metrics, candidates, graph_kept = _auto_round0(c, splits, train, labeled, resume, run_kw)
            first = "gcn" if graph_kept else None
            if not graph_kept:
                chosen_i, chosen_t, chosen_y = [], [], []
        else:
            metrics = _round(c, splits, train, resume, run_kw)
        round_metrics.append(metrics)
        # each round's entry describes what it trained on: how many pseudo-labels, from whom, how many right
        info = {"round": r, "teacher": later_teacher(s) if r else first, "run": os.path.basename(c.output_dir),
                "pseudo_labeled": len(chosen_t), "per_class": {n: chosen_y.count(n) for n in sorted(set(chosen_y))},
                "dev": (metrics.get("dev") or {}).get("accuracy"), "test": (metrics.get("test") or {}).get("accuracy")}
        if candidates is not None:
            info["candidates"] = candidates
        if truth is not None and len(chosen_i):
            info["pseudo_acc"] = float(np.mean([truth[i] == y for i, y in zip(chosen_i, chosen_y)]))
        history.append(info)
        print(f"self-training round {r}: {info}", flush=True)
        if r < s.rounds - 1:  # the last student's predictions on the pool would not be used
            chosen_i, chosen_t, chosen_y = _next_pseudo_labels(c, cfg, s, graph, labeled, pool, r)
    return _finish(cfg, splits, s, graph, history, round_metrics)


def _seed_graph(cfg, labeled, pool, s) -> Graph:
    """The graph over the frozen encoder's embeddings of the labeled and pool texts, and its pool probabilities."""
    from ..data import LabelMap
    from ..ssl.embedding import cached_embed
    from ..ssl.graph import graph_probs

    emb = tuple(cached_embed(d.texts, cfg.model.name, cfg.model.max_length, cfg.model.embed_bf16)
                for d in (labeled, pool))
    method = "spreading" if s.seed_graph == "label_spreading" else "gcn"  # auto: a GCN too
    return Graph(method, emb, graph_probs(labeled, pool, method=method, seed=cfg.train.seed, embeddings=emb),
                 LabelMap.from_data(labeled).names)


def _auto_round0(c, splits, train, labeled, resume, run_kw):
    """seed_graph=auto: train round 0 on labels + the GCN's pseudo-labels and on the labels alone; keep the student
    with the better dev accuracy (the graph-seeded one on a tie). -> (its config, metrics, both scores, graph kept)."""
    c.output_dir = os.path.join(os.path.dirname(c.output_dir), "round_0_gcn")
    m_g = _round(c, splits, train, resume, run_kw)
    c_l = copy.deepcopy(c)
    c_l.output_dir = os.path.join(os.path.dirname(c.output_dir), "round_0_labels")
    m_l = _round(c_l, splits, labeled, resume, run_kw)
    candidates = {k: {"dev": m["dev"]["accuracy"], "test": (m.get("test") or {}).get("accuracy")}
                  for k, m in (("gcn", m_g), ("labels", m_l))}
    if m_l["dev"]["accuracy"] > m_g["dev"]["accuracy"]:
        return c_l, m_l, candidates, False
    return c, m_g, candidates, True


def _next_pseudo_labels(c, cfg, s, graph, labeled, pool, r):
    """The pool relabeled after round r by the round's student (and/or the graph) -> (indices, texts, labels)."""
    from ..backbone import TaskModel
    from ..data import LabelMap

    model_dir = os.path.join(c.output_dir, "model")
    model, tok, meta = TaskModel.load(model_dir)
    labels = LabelMap(meta["labels"])
    if s.graph_refresh:  # the graph over this student's own embeddings (Iscen et al. 2019)
        from ..ssl.graph import embed, graph_probs

        emb_s = tuple(embed(d.texts, model_dir, c.train.eval_batch_size, meta["max_length"], bf16=c.model.embed_bf16)
                      for d in (labeled, pool))
        graph.probs = graph_probs(labeled, pool, method=graph.method, seed=cfg.train.seed, embeddings=emb_s)
    if s.graph_ensemble or s.graph_refresh:
        P_g = graph.probs[:, [graph.names.index(n) for n in labels.names]]  # in the model's label order
    if s.graph_refresh and not s.graph_ensemble:
        probs = P_g
    else:
        probs = pool_probs(model, tok, pool, meta["max_length"], c.train.eval_batch_size)
    if s.graph_ensemble:
        probs = (probs + P_g) / 2
    # CBST (Zou et al. 2018) grows the kept portion each round: 20% + 5% per round in the paper (capped at 1 here)
    por = None if s.portion is None else min(1.0, s.portion + r * s.portion_step)
    idx, cls = select(probs, s.threshold, s.balance, s.max_per_class, portion=por)
    return idx, [pool.texts[i] for i in idx], [labels.names[k] for k in cls]


def _finish(cfg, splits, s, graph, history, round_metrics) -> dict:
    """The final round (dev or last), graph_predict's scores if asked, self_training.json -> the returned metrics."""
    from ..runs import write_json

    best = _selected_round(history, s.select_round)
    history[best]["selected"] = True
    metrics = round_metrics[best]
    if s.graph_predict:
        metrics = _graph_predict(cfg, splits, os.path.join(cfg.output_dir, history[best]["run"], "model"),
                                 graph.method, graph.emb, metrics)
        history[best]["graph_predict"] = {n: metrics[n]["accuracy"] for n in ("dev", "test") if metrics.get(n)}
    write_json(os.path.join(cfg.output_dir, "self_training.json"), history)
    metrics["self_training"], metrics["selected_round"] = history, best
    return metrics


def _round(c, splits, train, resume: bool, run_kw) -> dict:
    """One round's training run in c.output_dir (read back when resuming a finished one)."""
    from .finetune import run

    finished = os.path.join(c.output_dir, "metrics.json")
    if resume and os.path.exists(finished):
        name = os.path.basename(c.output_dir).replace("_", " ")  # round 0 (auto: round 0 gcn / labels)
        print(f"self-training {name}: finished before, read back from {c.output_dir}", flush=True)
        with open(finished, encoding="utf-8") as f:
            return json.load(f)
    return run(c, {**splits, "train": train}, resume=resume, **run_kw)


def _selected_round(history: list[dict], select_round: str) -> int:
    """The final round: the first with the best dev accuracy, or the last (select_round="last", or no dev)."""
    devs = [h.get("dev") for h in history]
    if select_round == "last" or any(d is None for d in devs):
        return len(history) - 1
    return int(np.argmax(devs))


def _graph_predict(cfg, splits, model_dir, graph_method, emb, student_metrics) -> dict:
    """Dev/test predictions of the mean of the student's and the (transductive) seed graph's probabilities."""
    from ..backbone import TaskModel
    from ..data import LabelMap
    from ..ssl.embedding import cached_embed
    from ..ssl.graph import gcn, propagate
    from .frozen import write_prob_outputs

    labeled = splits["train"]
    evals = [(n, splits[n]) for n in ("dev", "test") if splits.get(n) is not None and splits[n].labels is not None]
    model, tok, meta = TaskModel.load(model_dir)
    labels = LabelMap(meta["labels"])
    E_l, E_u = emb
    E_ev = [cached_embed(d.texts, cfg.model.name, cfg.model.max_length, cfg.model.embed_bf16) for _, d in evals]
    y = np.array([labels.encode(v) for v in labeled.labels])  # the graph's columns in the student's label order
    U = np.vstack([E_u, *E_ev])
    P = gcn(E_l, y, U, seed=cfg.train.seed) if graph_method == "gcn" else propagate(E_l, y, U, method=graph_method)
    probs, start = {}, len(E_u)
    for n, d in evals:
        P_s = pool_probs(model, tok, d, meta["max_length"], cfg.train.eval_batch_size)
        probs[n], start = (P_s + P[start: start + len(d)]) / 2, start + len(d)
    out = os.path.join(cfg.output_dir, "graph_predict")
    os.makedirs(out, exist_ok=True)
    metrics = {"task": "classify", "n_train": student_metrics.get("n_train"), "labels": labels.names,
               "method": f"self-training student + {graph_method} (mean of probabilities)",
               "student": {n: student_metrics.get(n) for n, _ in evals}}
    header = f"last student `{model_dir}` + {graph_method} over `{cfg.model.name}`, mean of class probabilities"
    return write_prob_outputs(out, header, evals, probs, labels, metrics)
