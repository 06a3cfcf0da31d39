"""Pseudo-labeling / self-training (Lee 2013; Yarowsky 1995; as a teacher-student loop like Xie et al. 2020's
Noisy Student, where each round's student starts again from the backbone).

    metrics = self_train(cfg, splits, rounds=3, threshold=0.9, balance=True)

Round r trains on the labeled data plus the pseudo-labeled examples chosen after round r-1, then predicts the
unlabeled pool and keeps the examples whose confidence >= threshold; with balance=True it keeps the same number
per class (the smallest class count among the confident ones, at most `max_per_class`), most confident first.
Each round writes `output_dir/round_<r>`; dev (never test) picks each round's checkpoint. Pseudo-label accuracy is
logged when the true labels of the pool are known (benchmarks).
"""
from __future__ import annotations

import copy
import json
import os

import numpy as np


def select(probs: np.ndarray, threshold: float, balance: bool = True, max_per_class: int | None = None):
    """Indices of confident predictions (and their classes), class-balanced if asked."""
    conf, pred = probs.max(1), probs.argmax(1)
    idx = np.flatnonzero(conf >= threshold)
    if not balance:
        return idx, pred[idx]
    per = [idx[pred[idx] == c] for c in range(probs.shape[1])]
    n = min(len(p) for p in per)
    if max_per_class:
        n = min(n, max_per_class)
    keep = np.concatenate([p[np.argsort(-conf[p], kind="stable")[:n]] for p in per]) if n else np.array([], int)
    keep = np.sort(keep)
    return keep, pred[keep]


def self_train(cfg, splits: dict, rounds: int = 3, threshold: float = 0.9, balance: bool = True,
               max_per_class: int | None = None, true_unlabeled_labels: list | None = None, **run_kw) -> dict:
    from ..data import LabelMap, TextData
    from ..evaluate.report import evaluate_split
    from ..backbone import TaskModel
    from ..train import run

    if splits.get("unlabeled") is None:
        raise ValueError("self-training needs splits['unlabeled']")
    labeled, pool = splits["train"], splits["unlabeled"]
    base_out = cfg.output_dir
    chosen_t, chosen_y, history = [], [], []
    metrics = None
    for r in range(rounds):
        c = copy.deepcopy(cfg)
        c.output_dir = os.path.join(base_out, f"round_{r}")
        train = TextData(labeled.texts + chosen_t, labeled.labels + chosen_y, source=labeled.source)
        metrics = run(c, {**splits, "train": train}, **run_kw)
        model, tok, meta = TaskModel.load(os.path.join(c.output_dir, "model"))
        labels = LabelMap(meta["labels"])
        _, recs = evaluate_split(model, tok, pool, labels, meta["max_length"], c.train.eval_batch_size)
        # evaluate_split returns the top class + confidence; rebuild the (N, C) view for selection
        probs = np.zeros((len(recs), len(labels)))
        for i, rec in enumerate(recs):
            probs[i, labels.encode(rec["pred"])] = rec["confidence"]
        keep, cls = select(probs, threshold, balance, max_per_class)
        chosen_t = [pool.texts[i] for i in keep]
        chosen_y = [labels.names[k] for k in cls]
        info = {"round": r, "dev": metrics.get("dev", {}).get("accuracy"), "pseudo_labeled": len(keep)}
        if true_unlabeled_labels is not None and len(keep):
            info["pseudo_acc"] = float(np.mean([true_unlabeled_labels[i] == y for i, y in zip(keep, chosen_y)]))
        history.append(info)
        print(f"self-training round {r}: {info}", flush=True)
    with open(os.path.join(base_out, "self_training.json"), "w") as f:
        json.dump(history, f, indent=2)
    metrics["self_training"] = history
    return metrics
