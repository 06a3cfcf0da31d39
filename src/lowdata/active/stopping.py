"""When to stop buying labels: the expected gain of the next batch from a learning curve fitted on the labels alone,
and the stabilising-predictions rule.

    g = next_batch_gain(X_l, y_l, batch=40)   # {"accuracy_now", "accuracy_after", "gain", "extrapolated", ...}
    stop_round = stabilizing_predictions([pred_round0, pred_round1, ...])   # index of the round to stop at, or None

next_batch_gain: repeated stratified k-fold inside the labels; on each training fold a frozen-LR surrogate is fitted
on nested subsamples (30% .. 100% of the fold), scored on the held-out fold; err(n) = a n^-b + c is fitted to those
points (lowdata.evaluate.curves) and read at the current and the next label count. Both points lie beyond the largest
fitted n (a training fold is (k-1)/k of the labels), so the answer is always flagged extrapolated. It estimates the
gain of *random* labels for the *surrogate*: an active batch usually gains more, a fine-tuned model differs.
stabilizing_predictions: Bloodgood & Vijay-Shanker 2009 ("A Method for Stopping Active Learning Based on Stabilizing
Predictions"): stop once Cohen's kappa between successive rounds' predictions on a fixed unlabeled stop set is at
least 0.99 for 3 rounds in a row (their window and threshold; small-text's StabilizingPredictions uses the same).
"""
from __future__ import annotations

import numpy as np

FRACTIONS = (0.3, 0.45, 0.6, 0.8, 1.0)


def cv_curve_points(X_l, y_l, folds: int = 5, repeats: int = 2, seed: int = 0):
    """(n, err) points: surrogate error on held-out folds after training on nested subsamples of the other folds."""
    from sklearn.model_selection import RepeatedStratifiedKFold

    from . import surrogate_probs

    X_l, y_l = np.asarray(X_l), np.asarray(y_l)
    k = int(min(folds, np.bincount(y_l)[np.bincount(y_l) > 0].min()))
    if k < 2:
        raise ValueError("every class needs at least 2 labeled examples for a cross-validated curve")
    C = int(y_l.max()) + 1
    rng = np.random.default_rng(seed)
    ns, errs = [], []
    for tr, te in RepeatedStratifiedKFold(n_splits=k, n_repeats=repeats, random_state=seed).split(X_l, y_l):
        perm = rng.permutation(tr)
        for f in FRACTIONS:
            sub = perm[: max(2, int(round(f * len(tr))))]
            P = surrogate_probs(X_l[sub], y_l[sub], X_l[te], C, seed)
            ns.append(len(sub))
            errs.append(float((P.argmax(1) != y_l[te]).mean()))
    return np.array(ns, float), np.array(errs)


def next_batch_gain(X_l, y_l, batch: int, target: float | None = None, seed: int = 0) -> dict:
    """Expected surrogate accuracy now and after `batch` more labels, from the labels' own CV curve (see module)."""
    from ..evaluate.curves import fit_curve

    L = len(y_l)
    try:
        n, err = cv_curve_points(X_l, y_l, seed=seed)
        fit = fit_curve(n, err)
    except (ValueError, RuntimeError) as e:
        return {"labels": L, "error": str(e)}
    now, after = float(1 - fit.predict(L)), float(1 - fit.predict(L + batch))
    out = {"labels": L, "batch": batch, "accuracy_now": now, "accuracy_after": after, "gain": after - now,
           "ceiling": float(1 - fit.c), "extrapolated": True, "fitted_labels": [float(n.min()), float(n.max())],
           "fit": {"a": fit.a, "b": fit.b, "c": fit.c},
           "note": "frozen-LR surrogate, random labels; fitted on CV folds of the labels only"}
    if target is not None:
        t = fit.labels_for(1 - target)
        out["labels_for_target"] = {"target": target, **t}
    return out


def stabilizing_predictions(preds: list, window: int = 3, threshold: float = 0.99):
    """The index of the first round whose predictions on the stop set agree with the previous round's at Cohen's
    kappa >= threshold for `window` consecutive rounds; None when that never happens."""
    from sklearn.metrics import cohen_kappa_score

    run = 0
    for i in range(1, len(preds)):
        a, b = np.asarray(preds[i - 1]), np.asarray(preds[i])
        same = (a == b).all()
        k = 1.0 if same else cohen_kappa_score(a, b)
        run = run + 1 if k >= threshold else 0
        if run >= window:
            return i
    return None
