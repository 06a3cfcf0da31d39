"""Which selection rule should `lowdata auto` use? Replayed on the CV cells that bench/auto.py kept, exactly: a rule
picks a candidate from the cells auto saw, and that candidate's test accuracy when trained on all labels is already
in the run's "hindsight" entry (the same config and seed as auto's final training).

    python bench/auto.py --datasets mr clinc150 --seeds 0 1 2 3 4 --backbones minilm --results auto-design
    python bench/auto_rules.py --results auto-design

Rules (lowdata.methods.auto.choose, the code auto runs): "argmax" (the best mean CV accuracy among the candidates of
the last rung) and "one_se" (Breiman et al. 1984's one-standard-error rule over paired folds: the first candidate in
the registry's order, cheapest and most regularised first, whose mean CV accuracy is within one standard error of
the best's, the standard error taken over the folds both were scored on). The rule is chosen on the design sets
(MR, CLINC150) and then only reported on the benchmark datasets: never chosen on their test sets.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, load_results  # noqa: E402

RULES = ("argmax", "one_se")


def replay(run: dict, rule: str) -> str:
    """The candidate lowdata.methods.auto.choose picks from this run's cells under `rule` -> "recipe|backbone"."""
    from lowdata.methods.auto import RECIPES, Cells, choose

    by_name = {r.name: r for r in RECIPES}
    cands = [(by_name[k.split("|")[0]], k.split("|")[1]) for k in run["hindsight"]]
    cells = Cells.__new__(Cells)
    cells.cells = {k: {"accuracy": a} for k, a in run["cells"].items()}
    r, b = choose(cells, cands, cands, rule)
    return f"{r.name}|{b}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", nargs="+", default=["auto-design"])
    a = ap.parse_args()
    rows = {}
    for name in a.results:
        for key, run in load_results(RESULTS / f"{name}.json").get("runs", {}).items():
            if "cells" not in run:
                continue
            dataset = key.split("/")[0] + " / " + key.split("/")[2]
            r = rows.setdefault(dataset, {"best": [], **{n: [] for n in RULES}})
            fixed = run["hindsight"]
            r["best"].append(fixed)
            for n in RULES:
                r[n].append(fixed[replay(run, n)])
    print("| dataset / backbones | seeds | best fixed recipe in hindsight | " + " | ".join(RULES) + " |")
    print("|---|---:|---|" + "---:|" * len(RULES))
    for dataset, r in rows.items():
        fixed = {c: statistics.mean(h[c] for h in r["best"]) for c in r["best"][0]}
        best = max(fixed, key=fixed.get)
        print(f"| {dataset} | {len(r['best'])} | {fixed[best]:.4f} ({best.replace('|', ' on ')}) | " +
              " | ".join(f"{statistics.mean(r[n]):.4f} ({100 * (statistics.mean(r[n]) - fixed[best]):+.2f})"
                         for n in RULES) + " |")


if __name__ == "__main__":
    main()
