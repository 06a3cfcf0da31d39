"""What augmentation is worth: accuracy at 16 labeled per class without augmentation vs each augmenter family vs
a combination, same seeds (few-shot samples), MiniLM. Runs the cells through fewshot.py (resumable) and prints
the table.

    python bench/augment_value.py --datasets sst2 trec --seeds 0 1 2 3 4
    python bench/augment_value.py --table-only

Families (n variants per labeled example; EDA's paper setting for <=500 examples is alpha 0.05, 16 variants):
  none, eda (alpha 0.05, n 16), noise (keyboard p 0.05 + char p 0.03, n 4 each), mlm (mask-and-refill, p 0.15,
  n 4, with the MiniLM whose MLM head `bench/pretrain_value.py --lang en` trained: bench/cache/pt-en/model; the
  family is skipped with a message when that model is absent), multiview (reversed view + consistency),
  eda+multiview.
Families that add copies (eda, noise, mlm, eda+multiview) train 10 epochs at batch 16; the others (none, multiview)
20 epochs at batch 8, so every family takes a similar number of steps.
Datasets without a dev split (TREC) train a fixed number of epochs (no early stopping).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MLM = HERE / "cache" / "pt-en" / "model"
COPIES = {"eda", "noise", "mlm", "eda+multiview"}
FAMILIES = {
    "none": [],
    "eda": ["--aug", "eda:alpha=0.05,n=16"],
    "noise": ["--aug", "keyboard:p=0.05,n=4", "--aug", "char:p=0.03,n=4"],
    "mlm": ["--aug", f"mlm_refill:model={MLM},p=0.15,n=4"],
    "multiview": ["--multiview", "reverse"],
    "eda+multiview": ["--aug", "eda:alpha=0.05,n=16", "--multiview", "reverse"],
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=["sst2", "trec"])
    ap.add_argument("--families", nargs="+", default=list(FAMILIES))
    ap.add_argument("--seeds", nargs="+", default=["0", "1", "2", "3", "4"])
    ap.add_argument("--k", default="16")
    ap.add_argument("--table-only", action="store_true")
    a = ap.parse_args()
    if not a.table_only:
        for ds in a.datasets:
            for fam in a.families:
                if fam == "mlm" and not (MLM / "config.json").exists():
                    print(f"skip mlm: no trained MLM head at {MLM} (run bench/pretrain_value.py --lang en)")
                    continue
                extra = ["--epochs", "10", "--patience", "3", "--batch-size", "16"] if fam in COPIES else []
                if ds == "trec":
                    extra += ["--patience", "0", "--epochs", "10" if fam in COPIES else "30"]
                cmd = [sys.executable, str(HERE / "fewshot.py"), "--dataset", ds, "--k", a.k, "--seeds", *a.seeds,
                       f"--tag=-{fam}", *FAMILIES[fam], *extra]
                print("$", " ".join(cmd[1:]), flush=True)
                subprocess.run(cmd, check=True)
    print("\n| dataset | family | seeds | test accuracy (mean +- std) | vs none, paired by seed (mean +- std) | "
          "seeds better |\n|---|---|---:|---:|---:|---:|")
    for ds in a.datasets:
        base = None
        for fam in a.families:
            p = HERE / "results" / f"fewshot-{ds}-k{a.k}-{fam}.json"
            if not p.exists():
                continue
            runs = json.loads(p.read_text())["runs"]
            seeds = [s for s in a.seeds if s in runs]  # the same seeds (few-shot samples) for every family
            if not seeds:
                continue
            sc = {s: runs[s]["score"] for s in seeds}
            m, sd = statistics.mean(sc.values()), statistics.stdev(sc.values()) if len(sc) > 1 else 0.0
            if fam == "none":
                base = sc
                print(f"| {ds} | {fam} | {len(sc)} | {m:.4f} +- {sd:.4f} | | |")
                continue
            diff = [sc[s] - base[s] for s in seeds if base and s in base]
            d = (f"{statistics.mean(diff):+.4f} +- {statistics.stdev(diff) if len(diff) > 1 else 0.0:.4f}"
                 if diff else "")
            wins = f"{sum(x > 0 for x in diff)}/{len(diff)}" if diff else ""
            print(f"| {ds} | {fam} | {len(sc)} | {m:.4f} +- {sd:.4f} | {d} | {wins} |")


if __name__ == "__main__":
    main()
