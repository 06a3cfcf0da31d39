"""`lowdata auto` against the best single recipe in hindsight, on the samples of bench/backbones.py, resumable.

    python bench/auto.py --datasets sst2 trec agnews banking77 eprstmt tnews --seeds 0 1 2 --backbones minilm e5-small

For each dataset and seed: auto (lowdata.methods.auto, 4-fold CV x up to 3 repeats inside the labels, successive
halving) over the frozen-encoder candidates (frozen LR at C = 1 / 10 / 100, label spreading, GCN) times the given
backbones, then its test accuracy; and every candidate trained on all labels and scored on the test set: the best of
those is "the best single recipe in hindsight" (it uses the test labels to choose, which auto never does). Also
whether auto's CV interval contains its test score. The tuned recipes (SetFit-style, fine-tuning) are left out here:
on 2 CPU cores their CV costs tens of minutes a run (bench/backbones.py measures them once); say so with the
numbers. Same test draw, pool and labels as bench/backbones.py (its splits_for). Writes bench/results/auto.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backbones import DESIGN, FEWCLUE, K, MORE, splits_for  # noqa: E402
from common import RESULTS, load_results, machine, save_results  # noqa: E402

CHEAP = ("frozen_lr C=1", "frozen_lr C=10", "frozen_lr C=100", "label_spreading", "gcn")


def base_config(seed, a):
    """The base config of auto's final training here (and of its student step, bench/backbones.py)."""
    from lowdata.config import load_config

    return load_config(None, [f"model.max_length={a.max_length}", f"train.seed={seed}", "train.progress=false",
                              "train.report_to=[]", f"train.bf16={not getattr(a, 'fp32', False)}"])


def hindsight(recipe, backbone, splits, seed, a, out: str | None = None) -> float:
    """recipe trained as auto's final training trains it, on all labels (+ the pool where it uses one) -> its test
    accuracy; with out, its run folder (and model, out/run/model) stays there."""
    from lowdata.config import load_config
    from lowdata.methods import train
    from lowdata.methods.auto import _overrides_of

    with tempfile.TemporaryDirectory() as tmp:
        base = base_config(seed, a)
        keep = "true" if out else "false"  # frozen.save_model: the frozen-path recipes' model/ folder
        cfg = load_config(None, [*_overrides_of(base), *recipe.overrides, f"model.name={backbone}",
                                 f"output_dir={os.path.join(out or tmp, 'run')}", f"frozen.save_model={keep}"])
        m = train(cfg, {**splits, "dev": None, "unlabeled": splits["unlabeled"] if recipe.uses_pool else None})
    return m["test"]["accuracy"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=list(K) + list(MORE) + list(FEWCLUE),
                    help=f"also the design sets {', '.join(DESIGN)} (what the selection rule was chosen on)")
    ap.add_argument("--results", default="auto", help="bench/results/<name>.json")
    ap.add_argument("--backbones", nargs="+", default=["minilm", "e5-small"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--test-sample", type=int, default=1000)
    ap.add_argument("--unlabeled", type=int, default=2000)
    ap.add_argument("--max-length", type=int, default=64)
    a = ap.parse_args()
    from lowdata.config import load_config
    from lowdata.methods.auto import RECIPES, auto

    recipes = [r for r in RECIPES if r.name in CHEAP]
    path = RESULTS / f"{a.results}.json"
    res = load_results(path) or {"machine": machine(), "runs": {}}
    for dataset in a.datasets:
        for seed in a.seeds:
            key = f"{dataset}/{seed}/{'+'.join(a.backbones)}"
            if key in res["runs"]:
                continue
            splits = splits_for(dataset, seed, a)
            base = load_config(None, [f"model.max_length={a.max_length}", f"train.seed={seed}",
                                      "train.progress=false", "train.report_to=[]"])
            t0 = time.time()
            with tempfile.TemporaryDirectory() as tmp:
                r = auto(base, splits, os.path.join(tmp, "auto"), backbones=tuple(a.backbones), budget_s=3600,
                         recipes=recipes, seed=seed, progress=False, worth=False)
                with open(os.path.join(tmp, "auto", "auto.json"), encoding="utf-8") as f:
                    cells = {k: c["accuracy"] for k, c in json.load(f)["cells"].items()}
            t_auto = time.time() - t0
            each = {f"{rc.name}|{b}": hindsight(rc, b, splits, seed, a) for b in a.backbones for rc in recipes}
            best = max(each, key=each.get)
            lo, hi = r["estimate"]["interval"]
            res["runs"][key] = {"auto": r["test"]["accuracy"], "chosen": f"{r['chosen']['recipe']}|"
                                f"{r['chosen']['backbone']}", "cv": r["estimate"]["accuracy"], "interval": [lo, hi],
                                "covered": lo <= r["test"]["accuracy"] <= hi, "hindsight": each,
                                "best": best, "best_accuracy": each[best], "seconds_auto": round(t_auto, 1),
                                "n_train": len(splits["train"]), "n_test": len(splits["test"]),
                                "rule": r.get("rule"), "cells": cells}
            save_results(path, res)
            print(f"{key}: auto {r['test']['accuracy']:.4f} ({r['chosen']['recipe']} / {r['chosen']['backbone']}, "
                  f"CV {r['estimate']['accuracy']:.3f} [{lo:.3f}, {hi:.3f}]), hindsight best {each[best]:.4f} "
                  f"({best}), {t_auto:.0f}s", flush=True)
    print(f"\nauto over the frozen-encoder candidates x {', '.join(a.backbones)} (true few-shot; test: a fixed draw "
          f"of {a.test_sample}; pool {a.unlabeled}). Mean over seeds.\n")
    print("| dataset | labels | auto | best fixed recipe in hindsight (mean over seeds) | auto - it (points) | "
          "per-seed oracle | auto - oracle, worst | CV interval covers test | auto s / run |\n"
          "|---|---:|---:|---|---:|---:|---:|---:|---:|")
    gaps_all = []
    for dataset in a.datasets:
        rs = [v for k, v in res["runs"].items() if k.startswith(f"{dataset}/") and
              k.endswith("/" + "+".join(a.backbones))]
        if not rs:
            continue
        fixed = {c: statistics.mean(v["hindsight"][c] for v in rs) for c in rs[0]["hindsight"]}
        best = max(fixed, key=fixed.get)
        auto_mean = statistics.mean(v["auto"] for v in rs)
        gaps_all.append(100 * (auto_mean - fixed[best]))
        worst = min(100 * (v["auto"] - v["best_accuracy"]) for v in rs)
        shown = best.replace("|", " on ")
        print(f"| {dataset} | {rs[0]['n_train']} | {auto_mean:.4f} ({len(rs)} seeds) | {fixed[best]:.4f} ({shown}) | "
              f"{100 * (auto_mean - fixed[best]):+.2f} | {statistics.mean(v['best_accuracy'] for v in rs):.4f} | "
              f"{worst:+.2f} | {sum(v['covered'] for v in rs)}/{len(rs)} | "
              f"{statistics.mean(v['seconds_auto'] for v in rs):.0f} |")
    if gaps_all:
        print(f"\nauto - the best fixed recipe: {statistics.mean(gaps_all):+.2f} points on average over datasets, "
              f"worst dataset {min(gaps_all):+.2f}")


if __name__ == "__main__":
    main()
