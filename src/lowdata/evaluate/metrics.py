"""Reports for classification (scikit-learn) and NER (seqeval), as dicts that render to text, JSON and PNG.

    rep = classification_report(y_true, y_pred, labels=["neg", "pos"])
    rep["accuracy"], rep["per_class"]["pos"]["f1"], rep["confusion"]
    ner = ner_report(true_tags, pred_tags)      # ner["f1"] (default mode), ner["strict"]["f1"]
"""
from __future__ import annotations


def classification_report(y_true: list[str], y_pred: list[str], labels: list[str]) -> dict:
    """Accuracy, per-class and averaged precision/recall/F1, confusion matrix. Label names are data: any string
    works, "accuracy" and "macro avg" included (nothing is keyed by a label name inside scikit-learn's output)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    p, r, f, sup = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=None, zero_division=0)
    per = {lab: {"precision": float(p[i]), "recall": float(r[i]), "f1-score": float(f[i]), "support": float(sup[i])}
           for i, lab in enumerate(labels)}
    avgs = {}
    for name, avg in (("micro avg", "micro"), ("macro avg", "macro"), ("weighted avg", "weighted")):
        ap, ar, af, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=avg, zero_division=0)
        avgs[name] = {"precision": float(ap), "recall": float(ar), "f1-score": float(af), "support": float(sup.sum())}
    acc = sum(t == p_ for t, p_ in zip(y_true, y_pred)) / max(1, len(y_true))
    cm = confusion_matrix(y_true, y_pred, labels=labels).tolist()
    return {"task": "classify", "accuracy": acc, "macro_f1": avgs["macro avg"]["f1-score"], "per_class": per,
            "averages": avgs, "labels": labels, "confusion": cm, "n": len(y_true)}


def decide(P, thr, at_least_one: bool = True):
    """Multi-label decisions: (N, C) probabilities and per-label thresholds -> (N, C) 0/1; with at_least_one, a row
    with no label over its threshold gets its most probable one."""
    import numpy as np

    P = np.asarray(P)
    D = (P >= np.asarray(thr)[None, :]).astype(int)
    if at_least_one and len(P):
        empty = D.sum(1) == 0
        D[np.flatnonzero(empty), P[empty].argmax(1)] = 1
    return D


def multilabel_report(Y_true, Y_pred, labels: list[str]) -> dict:
    """Multi-label: micro / macro / weighted F1, subset accuracy (exact set match), Hamming loss, per-label P/R/F1.
    Y_true, Y_pred: (N, C) 0/1 arrays over `labels`. "f1" is the micro F1 (what learning curves fit)."""
    import numpy as np
    from sklearn.metrics import accuracy_score, hamming_loss, precision_recall_fscore_support

    Y_true, Y_pred = np.asarray(Y_true, int), np.asarray(Y_pred, int)
    p, r, f, sup = precision_recall_fscore_support(Y_true, Y_pred, average=None, zero_division=0)
    per = {lab: {"precision": float(p[i]), "recall": float(r[i]), "f1-score": float(f[i]), "support": float(sup[i])}
           for i, lab in enumerate(labels)}
    avgs = {}
    for name, avg in (("micro avg", "micro"), ("macro avg", "macro"), ("weighted avg", "weighted"),
                      ("samples avg", "samples")):
        ap, ar, af, _ = precision_recall_fscore_support(Y_true, Y_pred, average=avg, zero_division=0)
        avgs[name] = {"precision": float(ap), "recall": float(ar), "f1-score": float(af), "support": float(sup.sum())}
    return {"task": "multilabel", "f1": avgs["micro avg"]["f1-score"], "micro_f1": avgs["micro avg"]["f1-score"],
            "macro_f1": avgs["macro avg"]["f1-score"], "weighted_f1": avgs["weighted avg"]["f1-score"],
            "subset_accuracy": float(accuracy_score(Y_true, Y_pred)), "hamming_loss": float(hamming_loss(Y_true,
                                                                                                         Y_pred)),
            "per_class": per, "averages": avgs, "labels": labels, "n": int(len(Y_true)),
            "label_cardinality": {"true": float(Y_true.sum(1).mean()) if len(Y_true) else 0.0,
                                  "predicted": float(Y_pred.sum(1).mean()) if len(Y_pred) else 0.0}}


def ner_report(y_true: list[list[str]], y_pred: list[list[str]]) -> dict:
    """seqeval entity-level report, in default (conlleval-like) and strict IOB2 modes."""
    from seqeval.metrics import classification_report as sq_report
    from seqeval.scheme import IOB2

    def one(**kw):
        rep = sq_report(y_true, y_pred, output_dict=True, zero_division=0, **kw)
        return {k: {m: float(v) for m, v in d.items()} for k, d in rep.items()}

    default, strict = one(), one(mode="strict", scheme=IOB2)
    tok_acc = sum(t == p for ts, ps in zip(y_true, y_pred) for t, p in zip(ts, ps))
    ntok = sum(len(ts) for ts in y_true)
    return {"task": "ner", "f1": default["micro avg"]["f1-score"], "precision": default["micro avg"]["precision"],
            "recall": default["micro avg"]["recall"], "per_type": default,
            "strict": {"f1": strict["micro avg"]["f1-score"], "per_type": strict},
            "token_accuracy": tok_acc / max(1, ntok), "n": len(y_true)}


def _shown(label: str) -> str:
    """A label as printed in tables and plots: control characters escaped, table pipes kept apart."""
    out = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(label))
    return out.replace("|", "\\|") or "''"


def _table(rows: dict, order: list[str], averages: dict | None = None) -> str:
    lines = ["| | precision | recall | f1 | support |", "|---|---:|---:|---:|---:|"]
    body = [(_shown(k), rows[k]) for k in order if k in rows]
    body += [(f"*{k}*", v) for k, v in (averages or {}).items()]  # italic: never mistaken for a label row
    for k, r in body:
        lines.append(f"| {k} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1-score']:.4f} | "
                     f"{int(r['support'])} |")
    return "\n".join(lines)


def render_markdown(rep: dict, title: str = "Report") -> str:
    out = [f"## {title}", ""]
    if rep["task"] == "multilabel":
        out += [f"micro F1 **{rep['micro_f1']:.4f}**, macro F1 {rep['macro_f1']:.4f}, weighted F1 "
                f"{rep['weighted_f1']:.4f}, subset accuracy {rep['subset_accuracy']:.4f}, Hamming loss "
                f"{rep['hamming_loss']:.4f}, labels per text {rep['label_cardinality']['true']:.2f} true / "
                f"{rep['label_cardinality']['predicted']:.2f} predicted, n={rep['n']}", ""]
        out.append(_table(rep["per_class"], rep["labels"], rep["averages"]))
        return "\n".join(out) + "\n"
    if rep["task"] == "classify":
        out += [f"accuracy **{rep['accuracy']:.4f}**, macro F1 {rep['macro_f1']:.4f}, n={rep['n']}", ""]
        out.append(_table(rep["per_class"], rep["labels"], rep["averages"]))
        labs = [_shown(lab) for lab in rep["labels"]]
        if len(labs) <= 30:
            out += ["", "Confusion matrix (rows: true, columns: predicted)", "",
                    "| true \\ pred | " + " | ".join(labs) + " |", "|---|" + "---:|" * len(labs)]
            out += [f"| {lab} | " + " | ".join(str(c) for c in row) + " |" for lab, row in zip(labs, rep["confusion"])]
    else:
        types = sorted(k for k in rep["per_type"] if not k.endswith("avg"))
        for mode, rows in (("default", rep["per_type"]), ("strict (IOB2)", rep["strict"]["per_type"])):
            f1 = rows["micro avg"]["f1-score"]
            out += [f"### seqeval, {mode} mode: entity micro F1 **{f1:.4f}**", ""]
            avg = {k: rows[k] for k in ("micro avg", "macro avg", "weighted avg") if k in rows}
            out += [_table(rows, types, avg), ""]
        out.append(f"token accuracy {rep['token_accuracy']:.4f}, sentences n={rep['n']}")
    return "\n".join(out) + "\n"


def save_confusion_png(rep: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cm = np.array(rep["confusion"], dtype=float)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    labs = [_shown(lab) for lab in rep["labels"]]
    size = min(max(4, 0.4 * len(labs) + 2), 18)  # 150 intents at 0.4 inch a label: a 6,200-pixel image, a minute
    fig, ax = plt.subplots(figsize=(size, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    if len(labs) <= 40:
        ax.set_xticks(range(len(labs)), labs, rotation=90 if len(labs) > 6 else 0, fontsize=8)
        ax.set_yticks(range(len(labs)), labs, fontsize=8)
    else:  # too many to read as names: indices (labels in the report's order, report.md names them)
        step = max(1, len(labs) // 30)
        ax.set_xticks(range(0, len(labs), step))
        ax.set_yticks(range(0, len(labs), step))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Confusion matrix (row-normalised)\naccuracy {rep['accuracy']:.3f}, n={rep['n']}", fontsize=10)
    if len(labs) <= 15:
        for i in range(len(labs)):
            for j in range(len(labs)):
                ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.savefig(path, dpi=100, bbox_inches="tight")  # long label names stay inside the image
    plt.close(fig)
