"""Write a finished run's outputs: metrics.json, report.md, predictions.jsonl, confusion.png."""
from __future__ import annotations

import os

from ..batching import encode, encode_windows, predict_logits, stitch
from ..runs import write_json, write_lines, write_text
from .decode import decode as decode_tags
from .metrics import classification_report, ner_report, render_markdown, save_confusion_png


def evaluate_split(model, tok, data, labels, max_length, batch_size=64, device=None, autocast=None, multilabel=None,
                   decode: str = "argmax"):
    """-> (report dict, prediction records) for one labeled (or unlabeled) split. multilabel: a multi-label model's
    lowdata.json (thresholds, at_least_one): sigmoid per label, the labels over their thresholds. decode (NER):
    argmax or viterbi (lowdata.evaluate.decode; a model's lowdata.json names its own as ner_decode)."""
    import torch

    recs = []
    if multilabel:
        return _evaluate_multilabel(model, tok, data, labels, max_length, batch_size, device, autocast, multilabel)
    if data.task == "classify":
        enc = encode(data, tok, None, max_length)
        logits = predict_logits(model, enc, tok.pad_token_id, batch_size, device, autocast, max_length)
        probs = torch.softmax(logits, -1)
        conf, pred = probs.max(-1)
        names = [labels.names[i] for i in pred.tolist()]
        for i, (t, p, c) in enumerate(zip(data.texts, names, conf.tolist())):
            r = {"text": t, "pred": p, "confidence": round(c, 6)}
            if data.labels is not None:
                r["label"] = data.labels[i]
            recs.append(r)
        rep = classification_report(data.labels, names, labels.names) if data.labels is not None else None
        return rep, recs
    windows, spans = encode_windows(data, tok, None, max_length)  # sentences past max_length: whole-word windows
    logits = stitch(predict_logits(model, windows, tok.pad_token_id, batch_size, device, autocast, max_length), spans)
    pred = [[labels.names[i] for i in path] for path in decode_tags(logits, labels.names, decode)]
    for i, (toks, p) in enumerate(zip(data.tokens, pred)):
        r = {"tokens": toks, "pred": p}
        if data.tags is not None:
            r["tags"] = data.tags[i]
        recs.append(r)
    rep = ner_report(data.tags, pred) if data.tags is not None else None
    return rep, recs


def _evaluate_multilabel(model, tok, data, labels, max_length, batch_size, device, autocast, meta):
    import numpy as np
    import torch

    from ..data import TextData
    from .metrics import decide, multilabel_report

    enc = encode(TextData(data.texts, source=data.source, lines=data.lines), tok, None, max_length)
    P = torch.sigmoid(predict_logits(model, enc, tok.pad_token_id, batch_size, device, autocast, max_length)
                      .float()).numpy()
    D = decide(P, meta["thresholds"], meta.get("at_least_one", True))
    recs = []
    for i, (t, row, p) in enumerate(zip(data.texts, D, P)):
        r = {"text": t, "pred": [labels.names[j] for j in np.flatnonzero(row)],
             "scores": {labels.names[j]: round(float(p[j]), 6) for j in np.argsort(-p)[:5]}}
        if data.labels is not None:
            r["labels"] = list(data.labels[i])
        recs.append(r)
    rep = multilabel_report(data.multi_hot(labels.names), D, labels.names) if data.labels is not None else None
    return rep, recs


def write_outputs(model, tok, splits, labels, cfg, state, device=None, autocast=None, decode=None) -> dict:
    """decode: NER, (mode, reason) from lowdata.evaluate.decode.choose_decode."""
    out = cfg.output_dir
    metrics = {"task": splits["train"].task, "n_train": len(splits["train"]), "labels": labels.names,
               "steps": state["step"], "best_step": state["best_step"], "history": state["history"]}
    # the best step is a dev selection; without dev evaluations the last step's model is the one reported
    chosen = f"best on dev at step {state['best_step']}" if state["history"] else "the last step's model, no dev"
    md = [f"# lowdata run: {out}", "", f"model `{cfg.model.name}`, task {metrics['task']}, "
          f"{metrics['n_train']} training examples, {state['step']} steps ({chosen})", ""]
    if decode:
        metrics["ner_decode"] = decode[0]
        md += [f"NER tags decoded by {decode[0]} ({decode[1]})", ""]
    pred_split = None
    for name in ("dev", "test"):
        data = splits.get(name)
        if data is None:
            continue
        rep, recs = evaluate_split(model, tok, data, labels, cfg.model.max_length, cfg.train.eval_batch_size,
                                   device, autocast, decode=decode[0] if decode else "argmax")
        metrics[name] = rep
        md.append(render_markdown(rep, f"{name} ({data.source})"))
        if rep["task"] == "classify":
            save_confusion_png(rep, os.path.join(out, f"confusion_{name}.png"))
        pred_split = (name, recs)
    if pred_split:
        write_lines(os.path.join(out, "predictions.jsonl"), ({"split": pred_split[0], **r} for r in pred_split[1]))
    write_text(os.path.join(out, "report.md"), "\n".join(md))
    write_json(os.path.join(out, "metrics.json"), metrics)  # written last: it marks the run finished
    return metrics
