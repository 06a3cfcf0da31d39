"""Filters for synthetic data: exact and near duplicates, leakage into dev/test, label consistency.

    keep, rep = dedup(texts, near=0.9)                     # indices kept + FilterReport(kept, dropped={reason: n})
    keep, rep = leakage(texts, against=dev.texts + test.texts, near=0.9)
    keep, rep = label_consistency(texts, labels, probs, label_names, threshold=0.5)
    data, rep = filter_synthetic(synth, against=[dev, test], probs=..., threshold=0.5)   # all three, one report

Near-duplicates: cosine similarity of character 3-gram TF-IDF vectors (scikit-learn) >= `near`.
Exact duplicates compare case- and whitespace-normalised text.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FilterReport:
    total: int = 0
    kept: int = 0
    dropped: dict = field(default_factory=dict)

    def add(self, reason: str, n: int):
        if n:
            self.dropped[reason] = self.dropped.get(reason, 0) + n

    def __str__(self):
        why = ", ".join(f"{k}: {v}" for k, v in self.dropped.items()) or "none"
        return f"kept {self.kept} of {self.total}; dropped {why}"


def _norm(t: str) -> str:
    return " ".join(t.lower().split())


def _vectors(fit_texts, *others):
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3), lowercase=True, min_df=1)
    X = vec.fit_transform(fit_texts)
    return (X, *[vec.transform(o) for o in others])


def dedup(texts: list[str], near: float | None = 0.9, chunk: int = 2000):
    rep = FilterReport(total=len(texts))
    seen, keep = set(), []
    for i, t in enumerate(texts):
        k = _norm(t)
        if k not in seen:
            seen.add(k)
            keep.append(i)
    rep.add("exact duplicate", len(texts) - len(keep))
    if near is not None and len(keep) > 1:
        (X,) = _vectors([texts[i] for i in keep])
        drop = set()
        for s in range(0, X.shape[0], chunk):
            sim = (X[s: s + chunk] @ X.T).tocoo()
            for r, c, v in zip(sim.row + s, sim.col, sim.data):
                if c < r and v >= near and c not in drop:  # keep the first of a near-duplicate pair
                    drop.add(r)
        rep.add("near duplicate", len(drop))
        keep = [i for j, i in enumerate(keep) if j not in drop]
    rep.kept = len(keep)
    return keep, rep


def leakage(texts: list[str], against: list[str], near: float | None = 0.9, chunk: int = 2000,
            where: str = "dev/test"):
    """Indices of texts that are neither an exact nor a near match of any text in `against` (named `where` in the
    report's reasons)."""
    rep = FilterReport(total=len(texts))
    ref = {_norm(t) for t in against}
    keep = [i for i, t in enumerate(texts) if _norm(t) not in ref]
    rep.add(f"exact match in {where}", len(texts) - len(keep))
    if near is not None and keep and against:
        A, X = _vectors(against, [texts[i] for i in keep])
        bad = set()
        for s in range(0, X.shape[0], chunk):
            sim = X[s: s + chunk] @ A.T
            hit = (sim.max(axis=1).toarray().ravel() >= near).nonzero()[0]
            bad |= set((hit + s).tolist())
        rep.add(f"near match in {where}", len(bad))
        keep = [i for j, i in enumerate(keep) if j not in bad]
    rep.kept = len(keep)
    return keep, rep


def label_consistency(texts: list[str], labels: list[str], probs, label_names: list[str], threshold: float = 0.5):
    """Keep an example when a classifier gives its label probability >= threshold. probs: (N, C) array-like."""
    import numpy as np

    P = np.asarray(probs)
    if P.shape != (len(texts), len(label_names)):
        raise ValueError(f"probs has shape {P.shape}, expected ({len(texts)}, {len(label_names)})")
    idx = {n: i for i, n in enumerate(label_names)}
    keep = [i for i, y in enumerate(labels) if y in idx and P[i, idx[y]] >= threshold]
    rep = FilterReport(total=len(texts), kept=len(keep))
    rep.add(f"label confidence < {threshold}", len(texts) - len(keep))
    return keep, rep


def filter_synthetic(data, against=(), near: float | None = 0.9, probs=None, label_names=None,
                     threshold: float = 0.5, source=None):
    """All filters in turn on TextData -> (filtered TextData, FilterReport): duplicates, copies of `source` (the
    data the examples were made from), leaks into `against` (dev/test), then label consistency."""
    rep = FilterReport(total=len(data))
    idx = list(range(len(data)))
    keep, r = dedup(data.texts, near)
    idx = [idx[k] for k in keep]
    for k, v in r.dropped.items():
        rep.add(k, v)
    for where, sets in (("the source data", [source] if source is not None else []), ("dev/test", against)):
        ref = [t for d in sets for t in d.texts]
        if ref and idx:
            keep, r = leakage([data.texts[i] for i in idx], ref, near, where=where)
            idx = [idx[k] for k in keep]
            for k, v in r.dropped.items():
                rep.add(k, v)
    if probs is not None:
        import numpy as np

        P = np.asarray(probs)[idx]
        keep, r = label_consistency([data.texts[i] for i in idx], [data.labels[i] for i in idx], P, label_names,
                                    threshold)
        idx = [idx[k] for k in keep]
        for k, v in r.dropped.items():
            rep.add(k, v)
    rep.kept = len(idx)
    return data.subset(idx), rep
