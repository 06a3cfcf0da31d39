"""The full cross-validation grid of `lowdata auto`, for choosing its selection rule and replaying it, resumable.

    python bench/auto_grid.py --datasets mr pc --seeds 0 1 2 --results auto-design-grid     # the design sets
    python bench/auto_rules.py --results auto-design-grid --loo
    python bench/auto_grid.py --datasets subj sst2 --seeds 0 1 2 --results auto-grid        # benchmarks: reported only
    python bench/auto_grid.py --datasets sst5 trec --seeds 0 1 2 3 4 --recipes setfit setfit+pl --results auto-grid-plc
        # setfit+pl with its certainty-weighted head (session 23); auto-grid-pl holds cells of the earlier top-20% head
    python bench/auto_grid.py --datasets goemo-ekman clinc-travel --seeds 0 1 2 --recipes setfit setfit+pl \
        --results auto-design-grid-mc     # the multi-class design sets (session 29: the rule below did not fire)

Rule fixed in session 27, before the multi-class design run: prior_se prefers setfit+pl (chosen on the binary design
sets MR and Pros & Cons), and on the benchmarks SST-5 and TREC it trails the setfit library. If, over the multi-class
design samples (GoEmotions-Ekman 0-2, CLINC travel 0-2), setfit+pl's mean test accuracy in hindsight is below
setfit's, auto's preference for more than two classes becomes SetFit-style first; otherwise nothing changes.

For each dataset (the design sets MR and Pros & Cons, on which the rule is chosen; benchmark sets only to report the
chosen rule) and sample seed: every CV cell auto could run
(lowdata.methods.auto's own fold plan, 4-fold x 3 repeats, and its own _cell, so a held-out fold's labels never reach
the method), for every recipe, with no successive halving and no budget; then every recipe trained on all labels and
scored on the test draw ("hindsight", bench/auto.py's). bench/auto_rules.py replays auto's halving and each selection
rule on these cells, so a rule that keeps a tuned recipe (SetFit-style) can be judged without rerunning auto. Same
samples as bench/backbones.py (its splits_for). Writes bench/results/<--results>.json after every cell. As in auto,
setfit+pl's cells reuse setfit's tuned encoder of the same fold when setfit's cells run in the same process (list
setfit first), so their seconds are what auto spends on them.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from auto import hindsight  # noqa: E402
from backbones import splits_for  # noqa: E402
from common import RESULTS, load_results, machine, save_results  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["mr", "pc"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--recipes", nargs="+", default=["frozen_lr C=1", "frozen_lr C=10", "frozen_lr C=100",
                                                      "label_spreading", "gcn", "setfit"])
    ap.add_argument("--backbone", default="minilm")
    ap.add_argument("--results", default="auto-design-grid", help="bench/results/<name>.json")
    ap.add_argument("--test-sample", type=int, default=1000)
    ap.add_argument("--unlabeled", type=int, default=2000)
    ap.add_argument("--max-length", type=int, default=64)
    a = ap.parse_args()
    import numpy as np

    from lowdata.config import load_config
    from lowdata.data import LabelMap
    from lowdata.methods.auto import RECIPES, _cell, folds

    by_name = {r.name: r for r in RECIPES}
    unknown = [n for n in a.recipes if n not in by_name]
    if unknown:
        sys.exit(f"unknown recipes {unknown}; valid: {list(by_name)}")
    path = RESULTS / f"{a.results}.json"
    res = load_results(path) or {"machine": machine(), "runs": {}}
    b = a.backbone
    for seed in a.seeds:  # seed-major: an interrupted run leaves every dataset with some samples
        for dataset in a.datasets:
            key = f"{dataset}/{seed}/{b}"
            run = res["runs"].setdefault(key, {"cells": {}, "seconds": {}, "hindsight": {}})
            splits = splits_for(dataset, seed, a)
            train, pool = splits["train"], splits["unlabeled"]
            labels = LabelMap.from_data(train)
            y = [labels.encode(v) for v in train.labels]
            k = int(min(4, np.bincount(y).min()))
            plan = folds(y, k, 3, seed)  # what auto(k=4, repeats=3, seed=seed) runs
            base = load_config(None, [f"model.max_length={a.max_length}", f"train.seed={seed}",
                                      "train.progress=false", "train.report_to=[]"])
            reuse = tempfile.mkdtemp(prefix="lowdata-grid-encoders-")  # as auto: a fold's tuning serves setfit and
            for name in a.recipes:                                        # setfit+pl (1 GB for 12 MiniLM folds)
                r = by_name[name]
                for rep, fold, tr, te in plan:
                    ck = f"{name}|{b}|{rep}|{fold}"
                    if ck in run["cells"]:
                        continue
                    c = _cell(base, r, b, train, pool, tr, te, reuse)
                    run["cells"][ck], run["seconds"][ck] = c["accuracy"], c["seconds"]
                    save_results(path, res)
                if f"{name}|{b}" not in run["hindsight"]:
                    t0 = time.time()
                    run["hindsight"][f"{name}|{b}"] = hindsight(r, b, splits, seed, a)
                    run["seconds"][f"hindsight|{name}"] = round(time.time() - t0, 1)
                    run["n_train"], run["n_test"] = len(train), len(splits["test"])
                    save_results(path, res)
                cv = np.mean([v for kk, v in run["cells"].items() if kk.startswith(f"{name}|{b}|")])
                print(f"{key} {name}: CV {cv:.4f} ({len(plan)} cells), test {run['hindsight'][f'{name}|{b}']:.4f}",
                      flush=True)
            shutil.rmtree(reuse, ignore_errors=True)


if __name__ == "__main__":
    main()
