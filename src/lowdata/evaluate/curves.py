"""Learning curves: error vs number of labels, an inverse power law with an irreducible term, bootstrap intervals,
label equivalence between methods, and labels needed for a target score.

    fit = fit_curve(n=[8, 8, 16, 16, 32, 32], err=[.30, .32, .22, .24, .17, .18])    # one row per (budget, seed)
    fit.a, fit.b, fit.c, fit.predict(100), fit.labels_for(0.15)
    ci = bootstrap(n, err, B=1000, seed=0)      # {"a": (lo, hi), ...} resampling seeds within each budget
    eq = label_equivalence(baseline_fit, n=16, err=0.12)   # labels the baseline needs to match err=0.12 at n=16

err(n) = a * n^(-b) + c (Hestness et al. 2017; Rosenfeld et al. 2020; Hoiem et al. 2021 "Learning curves for
analysis of deep networks"), fitted by least squares with scipy (a > 0, 0 < b <= 3, 0 <= c < min err).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class CurveFit:
    a: float
    b: float
    c: float
    n_min: float
    n_max: float

    def predict(self, n):
        return self.a * np.asarray(n, dtype=float) ** (-self.b) + self.c

    def labels_for(self, err: float) -> dict:
        """Labels at which the fitted curve reaches `err`; inf when err <= c (below the irreducible error)."""
        if err <= self.c:
            return {"n": math.inf, "extrapolated": True, "reachable": False}
        log_n = -math.log((err - self.c) / self.a) / self.b  # in logs: a flat curve (small b) overflows floats
        if log_n > 700:
            return {"n": math.inf, "extrapolated": True, "reachable": False}
        n = math.exp(log_n)
        inside = self.n_min * (1 - 1e-6) <= n <= self.n_max * (1 + 1e-6)  # float round-off at the ends
        return {"n": float(n), "extrapolated": not inside, "reachable": True}


def fit_curve(n, err) -> CurveFit:
    from scipy.optimize import curve_fit

    n, err = np.asarray(n, dtype=float), np.asarray(err, dtype=float)
    if len(np.unique(n)) < 3:
        raise ValueError(f"a learning curve needs at least 3 distinct label budgets, got {sorted(set(n.tolist()))}")
    c_hi = max(float(err.min()) - 1e-6, 1e-6)
    # start: c a little below the best error, (a, b) from a log-log line through the rest
    c0 = 0.5 * float(err.min())
    slope, icpt = np.polyfit(np.log(n), np.log(np.clip(err - c0, 1e-6, None)), 1)
    p0 = [float(np.exp(icpt)), float(np.clip(-slope, 0.05, 2.9)), c0]

    def f(x, a, b, c):
        return a * x ** (-b) + c

    (a, b, c), _ = curve_fit(f, n, err, p0=p0, bounds=([1e-9, 1e-3, 0.0], [np.inf, 3.0, c_hi]), maxfev=20000)
    return CurveFit(float(a), float(b), float(c), float(n.min()), float(n.max()))


def bootstrap(n, err, B: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """Percentile intervals of (a, b, c) from refits on seed-resampled data (resampled within each budget)."""
    n, err = np.asarray(n, dtype=float), np.asarray(err, dtype=float)
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(n == v) for v in np.unique(n)]
    fits = []
    for _ in range(B):
        idx = np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])
        try:
            fits.append(fit_curve(n[idx], err[idx]))
        except (RuntimeError, ValueError):  # a resample the optimiser cannot fit: skipped, and counted
            continue
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    out = {k: tuple(np.percentile([getattr(f, k) for f in fits], [lo, hi]).tolist()) for k in ("a", "b", "c")}
    out["fits"] = fits
    out["failed"] = B - len(fits)
    return out


def label_equivalence(baseline: CurveFit, n: float, err: float, boot_fits=None, level: float = 0.95) -> dict:
    """How many labels the baseline needs to reach `err`, which a method reached with `n` labels; multiplier =
    n_equiv / n, with an interval over the baseline's bootstrap fits when given."""
    eq = baseline.labels_for(err)
    out = {"n": n, "err": err, "n_equiv": eq["n"], "multiplier": eq["n"] / n, "extrapolated": eq["extrapolated"]}
    if boot_fits:
        vals = np.sort(np.array([f.labels_for(err)["n"] for f in boot_fits], dtype=float))
        # order statistics, not interpolation: a fit that never reaches err gives inf, a valid unbounded end
        lo = vals[int(np.floor((1 - level) / 2 * (len(vals) - 1)))]
        hi = vals[int(np.ceil((1 + level) / 2 * (len(vals) - 1)))]
        out["n_equiv_ci"] = (float(lo), float(hi))
        out["multiplier_ci"] = (float(lo / n), float(hi / n))
    return out
