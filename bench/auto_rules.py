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

RULES = ("argmax", "one_se", "prior_se")


def replay(run: dict, rule: str) -> str:
    """The candidate lowdata.methods.auto.choose picks from this run's cells under `rule` -> "recipe|backbone".
    A full grid (bench/auto_design.py: every cell of every candidate) is first cut as auto's successive halving
    (lowdata.methods.auto.halve) would cut it, rung by rung; a run of bench/auto.py holds only the cells auto ran."""
    from lowdata.methods.auto import RECIPES, Cells, choose, halve, preferred

    by_name = {r.name: r for r in RECIPES}
    order = [r.name for r in RECIPES]
    cands = [(by_name[k.split("|")[0]], k.split("|")[1]) for k in run["hindsight"]]
    cands.sort(key=lambda rb: (rb[0].tuned, order.index(rb[0].name)))  # auto's order: cheap first
    cells = Cells.__new__(Cells)
    alive = cands
    if "auto" in run:  # bench/auto.py: the cells auto itself ran
        cells.cells = {k: {"accuracy": a} for k, a in run["cells"].items()}
    else:
        cells.cells = {}
        reps = 1 + max(int(k.split("|")[2]) for k in run["cells"])
        for rung in range(reps):
            for r, b in alive:
                cells.cells.update({k: {"accuracy": a} for k, a in run["cells"].items()
                                    if k.startswith(f"{r.name}|{b}|{rung}|")})
            if rung + 1 < reps and len(alive) > 1:
                alive, _ = halve(cells, alive, preferred(alive, rule))
    r, b = choose(cells, cands, alive, rule)
    return f"{r.name}|{b}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", nargs="+", default=["auto-design"])
    a = ap.parse_args()
    rows, picks = {}, {}
    for name in a.results:
        for key, run in load_results(RESULTS / f"{name}.json").get("runs", {}).items():
            if "cells" not in run or {k.rsplit("|", 2)[0] for k in run["cells"]} - set(run["hindsight"]):
                continue  # not a run of auto's cells, or a grid still running (a recipe without its test score)
            dataset = key.split("/")[0] + " / " + key.split("/")[2]
            r = rows.setdefault(dataset, {"best": [], **{n: [] for n in RULES}})
            fixed = run["hindsight"]
            r["best"].append(fixed)
            for n in RULES:
                pick = replay(run, n)
                r[n].append(fixed[pick])
                picks.setdefault(n, []).append(pick.split("|")[0])
    every = [h for r in rows.values() for h in r["best"]]
    common = [c for c in every[0] if all(c in h for h in every)]
    order = sorted(common, key=lambda c: -statistics.mean(h[c] for h in every))
    print("recipes by mean test accuracy over these runs (prior_se's PREFERENCE when they are the design sets): " +
          ", ".join(f"{c.split('|')[0]} {statistics.mean(h[c] for h in every):.4f}" for c in order) + "\n")
    print("| dataset / backbones | seeds | best fixed recipe in hindsight | " + " | ".join(RULES) + " |")
    print("|---|---:|---|" + "---:|" * len(RULES))
    for dataset, r in rows.items():
        fixed = {c: statistics.mean(h[c] for h in r["best"]) for c in r["best"][0]}
        best = max(fixed, key=fixed.get)
        print(f"| {dataset} | {len(r['best'])} | {fixed[best]:.4f} ({best.replace('|', ' on ')}) | " +
              " | ".join(f"{statistics.mean(r[n]):.4f} ({100 * (statistics.mean(r[n]) - fixed[best]):+.2f})"
                         for n in RULES) + " |")

    for n in RULES:
        print(f"{n} chose: " + ", ".join(f"{c} x{picks[n].count(c)}" for c in sorted(set(picks[n]))))


if __name__ == "__main__":
    main()
