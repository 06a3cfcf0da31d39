"""The chosen recipe's worth in labels versus plain fine-tuning, measured inside the labels (no other data).

Plain fine-tuning (the "finetune" recipe, on the winner's backbone) is trained on stratified fractions 1/4 and 1/2 of
each first-repeat fold's training part (and on all of it, reusing the search's own cells when fine-tuning was a
candidate) and scored on that fold's held-out part, blind as every cell. An inverse power law err(n) = a n^-b + c
(lowdata.evaluate.curves) fitted to those points gives the labels fine-tuning would need to reach the winner's CV
error at the fold size: worth = those labels / the fold size, with a bootstrap interval over the folds. With three
budgets, all at or below the fold size, the equivalence is usually an extrapolation: the result says so. Approximate
by construction: a curve through 3 budgets x k folds of a few dozen labels is noisy; the report gives the interval.
"""
from __future__ import annotations

import numpy as np

FRACTIONS = (0.25, 0.5)


def stratified_part(y: list, idx, frac: float, seed: int) -> list:
    """A seeded stratified fraction of the indices idx (at least one per class present)."""
    rng = np.random.default_rng(seed)
    idx = np.asarray(idx)
    out = []
    for c in sorted({y[i] for i in idx}):
        mine = idx[[y[i] == c for i in idx]]
        out += rng.choice(mine, size=max(1, int(round(frac * len(mine)))), replace=False).tolist()
    return sorted(out)


def plan(y: list, first_repeat: list, seed: int) -> list:
    """-> [(fraction, fold, train indices, held-out indices)] for the fractions below 1."""
    return [(f, fold, stratified_part(y, tr, f, seed + 1000 * fold), te)
            for f in FRACTIONS for _, fold, tr, te in first_repeat]


def estimate(points: list, fold_size: int, winner_accuracy: float, seed: int = 0) -> dict:
    """points: [(labels, accuracy)] of fine-tuning -> the labels it needs for the winner's accuracy."""
    from ..evaluate.curves import bootstrap, fit_curve, label_equivalence

    n = np.array([p[0] for p in points], dtype=float)
    err = 1.0 - np.array([p[1] for p in points], dtype=float)
    out = {"points": [[int(a), float(b)] for a, b in points], "fold_labels": fold_size,
           "winner_cv_accuracy": winner_accuracy}
    try:
        fit = fit_curve(n, err)
    except (RuntimeError, ValueError) as e:
        return {**out, "error": f"no curve fit: {e}"}
    boot = bootstrap(n, err, B=200, seed=seed)
    eq = label_equivalence(fit, fold_size, 1.0 - winner_accuracy, boot_fits=boot["fits"])
    return {**out, "fit": {"a": fit.a, "b": fit.b, "c": fit.c}, "labels_needed": eq["n_equiv"],
            "multiplier": eq["multiplier"], "multiplier_interval": list(eq.get("multiplier_ci", (None, None))),
            "extrapolated": eq["extrapolated"]}


def describe(w: dict) -> str:
    """One sentence for report.md."""
    if not w:
        return ""
    if w.get("skipped"):
        return f"Worth in labels versus plain fine-tuning: not measured ({w['skipped']})."
    if w.get("error"):
        return f"Worth in labels versus plain fine-tuning: {w['error']}."
    lo, hi = w["multiplier_interval"]
    m = w["multiplier"]
    show = lambda v: "unbounded" if v is None or not np.isfinite(v) else f"{v:.1f}x"  # noqa: E731
    budgets = sorted({p[0] for p in w["points"]})
    acc = f"the winner's CV accuracy {w['winner_cv_accuracy']:.3f} at {w['fold_labels']} labels"
    what = (f"fine-tuning would need about {round(w['labels_needed'])} labels to reach {acc}"
            if np.isfinite(w["labels_needed"]) else f"fine-tuning's fitted curve levels off below {acc}")
    return (f"Worth in labels versus plain fine-tuning: **{show(m)}** (95% interval {show(lo)}-{show(hi)}): {what} "
            f"(a power-law fit to fine-tuning at {', '.join(map(str, budgets))} labels inside the folds"
            f"{'; an extrapolation beyond them' if w['extrapolated'] else ''}).")
