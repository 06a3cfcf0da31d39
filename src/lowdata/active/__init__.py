"""Active learning: which texts to label next (query strategies over sentence vectors), the annotation round trip,
the simulated loop behind `lowdata curve`'s acquisition axis, and when to stop.

    from lowdata.active import STRATEGIES, select
    idx, scores = select("typiclust", X_pool, 40, seed=0)                     # cold start: no labels, no model
    idx, scores = select("margin", X_pool, 40, X_l=X_l, y_l=y_l, seed=0)      # probabilities of a frozen-LR surrogate
    idx, scores = select("badge", X_pool, 40, probs=P, seed=0)                # or of a trained model

strategies.py: the strategies; pool.py: pool vectors streamed to disk (1M texts in bounded memory); roundtrip.py:
CSV / JSONL / Label Studio files out and back in (`lowdata select`, `lowdata merge`); simulate.py: acquisition
trajectories on labeled data with the labels hidden until bought; stopping.py: expected gain and the stabilising-
predictions rule.
"""
from __future__ import annotations

import numpy as np

from ..registry import Registry

_S = "lowdata.active.strategies:"
STRATEGIES = Registry("query strategy", {n: _S + n for n in (
    "random", "kmeans", "typiclust", "probcover", "least_confidence", "margin", "entropy", "committee", "mc_dropout",
    "coreset", "badge", "wkmeans")})
SURROGATE_C = 10.0  # the frozen-LR surrogate's inverse L2 strength (lowdata auto's frozen_lr grid holds 1/10/100)


def surrogate_probs(X_l: np.ndarray, y_l: np.ndarray, X: np.ndarray, n_classes: int, seed: int = 0) -> np.ndarray:
    """(N, n_classes) probabilities of a logistic regression fitted on the labeled vectors (the model behind the
    uncertainty strategies when no trained model is given), streamed over the pool. Classes with no labeled example
    get probability 0; with one labeled class only, every point gets probability 1 for it."""
    from sklearn.linear_model import LogisticRegression

    from .strategies import _blocks

    P = np.zeros((len(X), n_classes))
    seen = np.unique(y_l)
    if len(seen) < 2:
        P[:, seen] = 1.0
        return P
    clf = LogisticRegression(max_iter=2000, C=SURROGATE_C, random_state=seed).fit(X_l, y_l)
    for a, z in _blocks(len(X)):
        P[a:z, clf.classes_] = clf.predict_proba(np.asarray(X[a:z]))
    return P


def select(strategy: str, X: np.ndarray, n: int, *, X_l=None, y_l=None, probs=None, samples=None,
           n_classes: int | None = None, seed: int = 0, balance: bool = False):
    """-> (idx, scores): n pool rows chosen by `strategy`, best first. With X_l/y_l and no probs, the uncertainty
    strategies use the frozen-LR surrogate's probabilities; balance=True spreads the batch over predicted classes."""
    from . import strategies as S

    if n < 1:
        from ..errors import LowdataError

        raise LowdataError(f"asked to select {n} texts (expected at least 1)")
    pick = STRATEGIES.factory(strategy)
    classes = n_classes or (int(np.max(y_l)) + 1 if y_l is not None and len(y_l) else None)
    if probs is None and X_l is not None and len(X_l) and (strategy in S.NEEDS_PROBS or balance):
        probs = surrogate_probs(X_l, np.asarray(y_l), X, classes, seed)
    pool = S.Pool(X, X_l=X_l if X_l is not None and len(X_l) else None,
                  y_l=None if y_l is None else np.asarray(y_l), probs=probs, samples=samples, classes=classes)
    rng = np.random.default_rng(seed)
    n = min(n, len(X))
    if balance:
        return S.balanced(pick, pool, n, rng)
    return pick(pool, n, rng)
