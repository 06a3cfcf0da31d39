import math

import numpy as np
import pytest

from lowdata.evaluate.curves import CurveFit, bootstrap, fit_curve, label_equivalence

BUDGETS = [4, 8, 16, 32, 64, 128, 256, 512]


def synthetic(a, b, c, seeds=3, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    n = np.repeat(BUDGETS, seeds).astype(float)
    return n, a * n ** (-b) + c + rng.normal(0, noise, len(n))


@pytest.mark.parametrize("a,b,c", [(0.6, 0.5, 0.08), (1.2, 0.8, 0.03), (0.4, 0.3, 0.15)])
def test_fit_recovers_known_parameters_within_5_percent(a, b, c):
    n, err = synthetic(a, b, c)
    f = fit_curve(n, err)
    for got, want in ((f.a, a), (f.b, b), (f.c, c)):
        assert abs(got - want) <= 0.05 * want, (f, (a, b, c))


def test_fit_with_seed_noise_and_bootstrap_interval_covers_truth():
    n, err = synthetic(0.6, 0.5, 0.08, seeds=5, noise=0.004, seed=1)
    f = fit_curve(n, err)
    assert abs(f.b - 0.5) < 0.1
    ci = bootstrap(n, err, B=200, seed=0)
    assert ci["b"][0] <= 0.5 <= ci["b"][1] and ci["c"][0] <= 0.08 <= ci["c"][1]
    assert ci["failed"] < 20


def test_labels_for_target_and_label_equivalence():
    n, err = synthetic(0.6, 0.5, 0.08)
    f = fit_curve(n, err)
    t = f.labels_for(0.6 * 100 ** -0.5 + 0.08)
    assert t["n"] == pytest.approx(100, rel=0.03) and not t["extrapolated"]
    far = f.labels_for(0.6 * 5000 ** -0.5 + 0.08)
    assert far["extrapolated"] and far["reachable"]
    assert f.labels_for(0.05) == {"n": math.inf, "extrapolated": True, "reachable": False}
    flat = CurveFit(a=0.5, b=1e-3, c=0.0, n_min=8, n_max=64)  # nearly flat: the target is ~1e300 labels away
    assert flat.labels_for(0.001)["reachable"] is False  # was an OverflowError
    # a method at 16 labels that reaches the baseline's 160-label error is worth 10x
    eq = label_equivalence(f, 16, float(f.predict(160)))
    assert eq["multiplier"] == pytest.approx(10, rel=1e-6)
    n2, err2 = synthetic(0.6, 0.5, 0.08, seeds=4, noise=0.003, seed=2)
    f2, ci = fit_curve(n2, err2), bootstrap(n2, err2, B=200)
    eq = label_equivalence(f2, 16, 0.6 * 160 ** -0.5 + 0.08, boot_fits=ci["fits"])  # the true 160-label error
    assert eq["multiplier_ci"][0] <= 10 <= eq["multiplier_ci"][1]


def test_needs_three_budgets():
    with pytest.raises(ValueError, match="at least 3 distinct label budgets"):
        fit_curve([8, 8, 16], [0.3, 0.31, 0.2])
