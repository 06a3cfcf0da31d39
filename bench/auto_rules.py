"""Which selection rule should `lowdata auto` use? Replayed on the CV cells that bench/auto.py kept, exactly: a rule
picks a candidate from the cells auto saw, and that candidate's test accuracy when trained on all labels is already
in the run's "hindsight" entry (the same config and seed as auto's final training).

    python bench/auto.py --datasets mr clinc150 --seeds 0 1 2 3 4 --backbones minilm --results auto-design
    python bench/auto_rules.py --results auto-design

Rules: "argmax" (the best mean CV accuracy among the candidates of the last rung: auto's rule until 2026-12-03);
"one_se" (Breiman et al. 1984's one-standard-error rule over paired folds: the first candidate in the registry's
order, cheapest and most regularised first, whose mean CV accuracy is within one standard error of the best's, the
standard error taken over the folds both were scored on). The rule is chosen on the design sets (MR, CLINC150) and
then only reported on the benchmark datasets: never chosen on their test sets.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, load_results  # noqa: E402


def by_candidate(cells: dict) -> dict:
    """{"recipe|backbone": {"rep|fold": accuracy}}"""
    out: dict = {}
    for key, acc in cells.items():
        recipe, backbone, rep, fold = key.split("|")
        out.setdefault(f"{recipe}|{backbone}", {})[f"{rep}|{fold}"] = acc
    return out


def argmax(cands: dict, order: list) -> str:
    last = max(len({f.split("|")[0] for f in c}) for c in cands.values())
    finalists = [k for k, c in cands.items() if len({f.split("|")[0] for f in c}) == last]
    return max(finalists, key=lambda k: (statistics.mean(cands[k].values()), -order.index(k)))


def one_se(cands: dict, order: list) -> str:
    best = argmax(cands, order)
    for k in order:
        if k not in cands:
            continue
        if k == best:
            return k
        common = sorted(set(cands[k]) & set(cands[best]))
        d = [cands[best][f] - cands[k][f] for f in common]
        if len(d) >= 2 and statistics.mean(d) <= statistics.stdev(d) / len(d) ** 0.5:
            return k
    return best


RULES = {"argmax": argmax, "one_se": one_se}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", nargs="+", default=["auto-design"])
    a = ap.parse_args()
    rows = {}
    for name in a.results:
        for key, run in load_results(RESULTS / f"{name}.json").get("runs", {}).items():
            if "cells" not in run:
                continue
            cands = by_candidate(run["cells"])
            keys = list(run["hindsight"])  # backbones x the registry's order, as bench/auto.py built it
            recipes = list(dict.fromkeys(k.split("|")[0] for k in keys))
            backbones = list(dict.fromkeys(k.split("|")[1] for k in keys))
            order = sorted(keys, key=lambda k: (recipes.index(k.split("|")[0]), backbones.index(k.split("|")[1])))
            dataset = key.split("/")[0] + " / " + key.split("/")[2]
            r = rows.setdefault(dataset, {"best": [], **{n: [] for n in RULES}})
            fixed = run["hindsight"]
            r["best"].append(fixed)
            for n, rule in RULES.items():
                r[n].append(fixed[rule(cands, order)])
    print("| dataset / backbones | seeds | best fixed recipe in hindsight | " + " | ".join(RULES) + " |")
    print("|---|---:|---|" + "---:|" * len(RULES))
    for dataset, r in rows.items():
        fixed = {c: statistics.mean(h[c] for h in r["best"]) for c in r["best"][0]}
        best = max(fixed, key=fixed.get)
        print(f"| {dataset} | {len(r['best'])} | {fixed[best]:.4f} ({best}) | " +
              " | ".join(f"{statistics.mean(r[n]):.4f} ({100 * (statistics.mean(r[n]) - fixed[best]):+.2f})"
                         for n in RULES) + " |")


if __name__ == "__main__":
    main()
