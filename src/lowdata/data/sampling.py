"""Few-shot sampling and splits, seeded: the same seed gives the same sample.

    labeled, unlabeled = k_per_class(train, k=16, seed=0)   # unlabeled = the rest, labels removed
    train, dev = split(data, fractions=(0.9, 0.1), seed=0)
"""
from __future__ import annotations

import numpy as np

from .schema import DataError


def k_per_class(data, k: int, seed: int = 0):
    """Stratified sample of k examples per class (classification) -> (labeled, unlabeled rest).

    For NER (no single class per sentence) `k` is the number of sentences, drawn uniformly.
    Raises DataError when a class has fewer than k examples.
    """
    if data.targets is None:
        raise DataError("cannot sample k per class from unlabeled data", data.source)
    rng = np.random.default_rng(seed)
    n = len(data)
    if data.task == "ner":
        if k > n:
            raise DataError(f"asked for {k} sentences but the data has {n}", data.source)
        chosen = np.sort(rng.permutation(n)[:k])
    else:
        chosen = []
        for lab in data.label_set():  # sorted, so the draw order is fixed
            idx = np.array([i for i, y in enumerate(data.labels) if y == lab])
            if len(idx) < k:
                raise DataError(f"class {lab!r} has {len(idx)} examples, fewer than k={k}", data.source)
            chosen.extend(rng.permutation(idx)[:k].tolist())
        chosen = np.sort(np.array(chosen))
    mask = np.zeros(n, bool)
    mask[chosen] = True
    rest = np.flatnonzero(~mask)
    return data.subset(chosen.tolist()), data.subset(rest.tolist(), unlabeled=True)


def fraction(data, frac: float, seed: int = 0):
    """A seeded random fraction of the examples (e.g. 1% of CoNLL-2003 sentences)."""
    if not 0 < frac <= 1:
        raise DataError(f"fraction must be in (0, 1], got {frac}", data.source)
    n = max(1, int(round(len(data) * frac)))
    idx = np.sort(np.random.default_rng(seed).permutation(len(data))[:n])
    return data.subset(idx.tolist())


def sample(data, n: int, seed: int = 0):
    """A seeded random sample of n examples, kept in file order (e.g. a cheaper test set for a study)."""
    if n <= 0:
        raise DataError(f"sample size must be positive, got {n}", data.source)
    idx = np.sort(np.random.default_rng(seed).permutation(len(data))[:n])
    return data.subset(idx.tolist())


def split(data, fractions=(0.8, 0.1, 0.1), seed: int = 0):
    """Fixed seeded random split into len(fractions) parts (fractions must sum to 1)."""
    if abs(sum(fractions) - 1) > 1e-6:
        raise DataError(f"split fractions must sum to 1, got {fractions}", data.source)
    perm = np.random.default_rng(seed).permutation(len(data))
    cuts = np.cumsum([int(round(f * len(data))) for f in fractions[:-1]])
    return [data.subset(np.sort(p).tolist()) for p in np.split(perm, cuts)]
