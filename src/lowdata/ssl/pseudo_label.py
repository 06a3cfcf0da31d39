"""Pseudo-label selection (the math of self-training; the rounds themselves are lowdata.methods.self_training).

    idx, cls = select(probs, threshold=0.9, balance=True)      # confident, class-balanced picks from (N, C) probs
    idx, cls = select(probs, 0, portion=0.2)                   # CBST: the top 20% of each predicted class
    idx, cls = top_balanced(probs, 0.2)                        # the same, then cut to the rarest class's count
    P = pool_probs(model, tok, pool, max_length=128)           # (N, C) softmax of a trained classifier
"""
from __future__ import annotations

import numpy as np


def select(probs: np.ndarray, threshold: float, balance: bool = True, max_per_class: int | None = None,
           portion: float | None = None):
    """Indices of confident predictions (and their classes), class-balanced if asked.

    With `portion` (class-balanced self-training, Zou et al. 2018, CBST): each class gets its own threshold, the
    confidence of its `portion`-th most confident prediction, so every predicted class keeps the top `portion` of
    its predictions (at most `max_per_class`) however low its confidences are; `threshold` and `balance` are unused.
    """
    conf, pred = probs.max(1), probs.argmax(1)
    if portion is not None:
        if not 0 < portion <= 1:
            raise ValueError(f"portion must be in (0, 1], got {portion}")
        keep = []
        for c in range(probs.shape[1]):
            p = np.flatnonzero(pred == c)
            n = int(np.ceil(portion * len(p)))
            if max_per_class:
                n = min(n, max_per_class)
            keep.append(p[np.argsort(-conf[p], kind="stable")[:n]])
        keep = np.sort(np.concatenate(keep)).astype(int)
        return keep, pred[keep]
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


def pool_probs(model, tok, pool, max_length: int, batch_size: int = 64) -> np.ndarray:
    """(N, C) softmax of a trained classifier over the texts of `pool` (on the GPU when there is one)."""
    import torch

    from ..batching import predict_probs

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    return predict_probs(model.to(dev), tok, pool.texts, max_length, batch_size, dev)


def top_balanced(probs: np.ndarray, portion: float):
    """The top `portion` of each predicted class by confidence (select's portion), then every class cut to as many as
    the class with the fewest (its most confident first), so the pseudo-labels cannot tilt the prior. A class that
    is never predicted leaves nothing. -> (sorted indices, their classes)."""
    keep, cls = select(probs, 0, portion=portion)
    conf = probs.max(1)
    per = [keep[cls == c] for c in range(probs.shape[1])]
    n = min(len(p) for p in per)
    if not n:
        return np.array([], int), np.array([], int)
    keep = np.sort(np.concatenate([p[np.argsort(-conf[p], kind="stable")[:n]] for p in per]))
    return keep, probs.argmax(1)[keep]
