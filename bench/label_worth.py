"""What each semi-supervised method is worth in labels: its mean test error (bench/semi_supervised.py results) read
off the fine-tuning baseline's learning curve (a `lowdata curve` study), as n_equiv / n with a bootstrap interval.

    python bench/label_worth.py --curve bench/results/study-agnews-ft/curve.json \
        --results bench/results/ssl-agnews-k10-s200.json bench/results/ssl-agnews-k10-ep1.json
    python bench/label_worth.py --curve bench/results/study-sst2-ft/curve.json --results bench/results/ssl-sst2-k16.json

The baseline is refitted here from the study's points (err(n) = a n^-b + c, lowdata.evaluate.curves) and
bootstrapped over seeds within each budget (1,000 refits), so the interval covers the baseline's seed noise; it does
not cover the method's own (its seeds' standard deviation is printed beside it). Read the caveats the output prints:
the study and the SSL bench need not share a test draw or a training schedule. Writes results/worth-<dataset>.json and
a plot, results/worth-<dataset>.png: the baseline curve with each method's point and a line to its label equivalent.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, save_results  # noqa: E402


def baseline_points(curve: dict, method: str):
    """(labels, error) per budget x seed; the study stores no "full" pool points here (its fit leaves them out)."""
    pts = curve["methods"][method]["points"]
    return [p["n_labels"] for p in pts], [1 - p["score"] for p in pts]


# diagnostics stored beside the methods that train on the pool's hidden labels: no semi-supervised method, no worth
DIAGNOSTICS = ("gcn_oracle",)


def method_rows(res: dict, n_classes: int) -> list[dict]:
    by, seeds = {}, {}
    for key, run in res["runs"].items():
        m, seed = key.split("/")
        if m not in DIAGNOSTICS:
            by.setdefault(m, []).append(run["accuracy"])
            seeds.setdefault(m, []).append(seed)
    n = res["args"]["k"] * n_classes
    sup = {s: res["runs"][f"supervised/{s}"]["accuracy"] for s in seeds.get("supervised", [])}
    # the same file's supervised runs on the same seeds (same labeled draws), for the paired column
    paired = {m: statistics.mean(sup[x] for x in ss) if all(x in sup for x in ss) else None for m, ss in seeds.items()}
    return [{"method": m, "setting": res["setting"], "n": n, "seeds": len(acc), "accuracy": statistics.mean(acc),
             "std": statistics.stdev(acc) if len(acc) > 1 else 0.0, "supervised_same_seeds": paired[m]}
            for m, acc in by.items()]


def plot(fit, n, err, rows, title: str, path: Path) -> None:
    """The baseline's points and fitted curve (error vs labels, log x); each method a dot at its labels and error,
    with a dotted line across to the labels the baseline needs for that error."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 4.5))
    hi = max([max(n)] + [r["n_equiv"] for r in rows if np.isfinite(r["n_equiv"])])
    xs = np.geomspace(min(n) / 2, hi * 1.5, 200)
    ax.plot(xs, fit.predict(xs), color="0.4", label=f"baseline fit: {fit.a:.2f} n^-{fit.b:.2f} + {fit.c:.3f}")
    ax.scatter(n, err, color="0.4", s=12, label="baseline (budget x seed)")
    shown = rows[:7] + [r for r in rows[7:] if r["method"] == "supervised"]  # the best seven and the reference
    colors = [c for i, c in enumerate(plt.get_cmap("tab10").colors) if i != 7]  # no grey: that is the baseline's
    for r, color in zip(shown, colors):
        e = 1 - r["accuracy"]
        ax.scatter([r["n"]], [e], s=30, zorder=3, color=color,
                   label=f"{r['method']} ({r['setting'].split('-')[-1]}): {r['multiplier']:.1f}x")
        if np.isfinite(r["n_equiv"]):
            ax.plot([r["n"], r["n_equiv"]], [e, e], ls=":", color=color)
    ax.set_xscale("log")
    ax.set_xlabel("labeled examples")
    ax.set_ylabel("test error")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--curve", required=True, help="a study's curve.json (lowdata curve)")
    ap.add_argument("--baseline", default="finetune", help="the study method to measure against")
    ap.add_argument("--results", nargs="+", required=True, help="bench/semi_supervised.py result files")
    ap.add_argument("--classes", type=int, default=0, help="number of classes (default: from the dataset name)")
    ap.add_argument("--min-seeds", type=int, default=3)
    ap.add_argument("--out", default="", help="result name under bench/results (default: worth-<dataset>.json)")
    a = ap.parse_args()

    from lowdata.evaluate.curves import bootstrap, fit_curve, label_equivalence

    curve = json.loads(Path(a.curve).read_text())
    if a.baseline not in curve["methods"]:
        sys.exit(f"{a.curve}: no method {a.baseline!r} (has {sorted(curve['methods'])})")
    n, err = baseline_points(curve, a.baseline)
    fit, boot = fit_curve(n, err), bootstrap(n, err, B=1000, seed=0)
    rows, seen = [], set()
    for path in a.results:
        res = json.loads(Path(path).read_text())
        classes = a.classes or {"agnews": 4, "sst2": 2, "trec": 6}[res["args"]["dataset"]]
        for r in method_rows(res, classes):
            if r["seeds"] < a.min_seeds or (r["method"], r["accuracy"]) in seen:  # copied between result files
                continue
            seen.add((r["method"], r["accuracy"]))
            eq = label_equivalence(fit, r["n"], 1 - r["accuracy"], boot_fits=boot["fits"])
            rows.append({**r, **{k: eq[k] for k in ("n_equiv", "multiplier", "multiplier_ci", "extrapolated")}})
    rows.sort(key=lambda r: -r["accuracy"])
    sup = next((r for r in rows if r["method"] == "supervised"), None)  # this bench's own fine-tuning on the labels
    for r in rows:  # against supervised on the same seeds when the file has them, else its supervised row
        same = r.pop("supervised_same_seeds")
        ref = label_equivalence(fit, r["n"], 1 - same)["n_equiv"] if same is not None else \
            sup["n_equiv"] if sup else None
        r["vs_supervised"] = r["n_equiv"] / ref if ref else None
    print(f"baseline: {a.baseline} from {a.curve}: err(n) = {fit.a:.3f} n^-{fit.b:.3f} + {fit.c:.3f} "
          f"({len(n)} points, budgets {sorted(set(n))}; {boot['failed']} of 1000 bootstrap refits failed)\n")
    print("| method | results | labels | test accuracy | baseline labels to match | worth [95% CI] | / supervised's |")
    print("|---|---|---:|---:|---:|---|---:|")
    for r in rows:
        lo, hi = r["multiplier_ci"]
        ext = " (extrapolated)" if r["extrapolated"] else ""
        print(f"| {r['method']} | {r['setting']} | {r['n']} | {r['accuracy']:.4f} +- {r['std']:.4f} | "
              f"{r['n_equiv']:.0f}{ext} | {r['multiplier']:.2f}x [{lo:.2f}, {hi:.2f}] | "
              + (f"{r['vs_supervised']:.2f}x |" if sup else "- |"))
    print("\nCaveats: the interval is the baseline fit's (seed bootstrap), not the method's. The study and this bench "
          "may differ in schedule and test draw, and the fit may sit off the baseline's own points; the last column "
          "divides by the worth of this bench's supervised run on the same labels (the same seeds where the result "
          "file has them), which cancels both to first order.")
    name = a.out or f"worth-{Path(a.results[0]).stem.split('-')[1]}"
    plot(fit, n, err, rows, f"{name}: each method's labels and error vs the {a.baseline} curve",
         RESULTS / f"{name}.png")
    print(f"plot: bench/results/{name}.png")
    save_results(RESULTS / f"{name}.json", {"curve": a.curve, "baseline": a.baseline,
                                           "fit": {"a": fit.a, "b": fit.b, "c": fit.c}, "rows": rows})


if __name__ == "__main__":
    main()
