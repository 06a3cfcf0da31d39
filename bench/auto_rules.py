"""Which selection rule should `lowdata auto` use? Replayed on the CV cells that bench/auto.py kept, exactly: a rule
picks a candidate from the cells auto saw, and that candidate's test accuracy when trained on all labels is already
in the run's "hindsight" entry (the same config and seed as auto's final training).

    python bench/auto.py --datasets mr clinc150 --seeds 0 1 2 3 4 --backbones minilm --results auto-design
    python bench/auto_rules.py --results auto-design
    python bench/auto_rules.py --results auto-design-grid --loo     # the design grid (bench/auto_grid.py)
    python bench/auto_rules.py --results auto-design-grid auto-design-grid-pl --loo   # + setfit+pl's cells
    python bench/auto_rules.py --results auto-grid-plc auto-grid-plc-frozen --library setfit-parity-sst5 \
        setfit-parity-trec                                          # auto against the setfit library, per sample

Rules (lowdata.methods.auto.choose, the code auto runs): "argmax" (the best mean CV accuracy among the candidates of
the last rung) and "one_se" (Breiman et al. 1984's one-standard-error rule over paired folds: the first candidate in
the registry's order, cheapest and most regularised first, whose mean CV accuracy is within one standard error of
the best's, the standard error taken over the folds both were scored on) and "prior_se" (the same with the design
sets' best recipe, PREFERENCE, first in the order and kept through halving; the default since session 20). The rule
is chosen on the design sets (MR, CLINC150, Pros & Cons) and only reported on the benchmark datasets: never chosen on
their test sets.
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
    A full grid (bench/auto_grid.py: every cell of every candidate) is first cut as auto's successive halving
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


def covered(run: dict, pick: str) -> bool | None:
    """Whether the interval auto's report gives for the chosen candidate (methods/auto.py _summary: Wilson's over
    one repeat's worth of held-out predictions, the mean CV accuracy x the labels) holds its test score. Grid runs
    keep accuracies only: the folds are taken as equal-sized (they differ by at most one text). None: no n_train."""
    from lowdata.methods.auto import wilson

    acc = [a for k, a in run["cells"].items() if k.startswith(pick + "|")]
    n = run.get("n_train")
    if not n or not acc:
        return None
    lo, hi = wilson(statistics.mean(acc) * n, n)
    return lo <= run["hindsight"][pick] <= hi


def order_of(hindsights: list) -> tuple:
    """Recipe names by mean test accuracy over these runs, best first (how PREFERENCE is read off the design sets)."""
    common = [c for c in hindsights[0] if all(c in h for h in hindsights)]
    return tuple(c.split("|")[0] for c in sorted(common, key=lambda c: -statistics.mean(h[c] for h in hindsights)))


def main():
    import lowdata.methods.auto as A

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", nargs="+", default=["auto-design"])
    ap.add_argument("--library", nargs="*", default=[], help="bench/backbones.py results holding the setfit "
                    "library's runs on the same samples (setfit_lib): each rule's test score minus the library's")
    ap.add_argument("--loo", action="store_true", help="also prior_se with its preferred recipe read off the other "
                    "datasets of these results (design sets only: on benchmarks that would read a test set)")
    a = ap.parse_args()
    by_set, runs = {}, {}
    for name in a.results:  # a grid split over several files (recipes added later) is merged by sample
        for key, run in load_results(RESULTS / f"{name}.json").get("runs", {}).items():
            if "auto" in run or key not in runs:
                runs[key if "auto" not in run else f"{name}:{key}"] = run
            else:
                runs[key] = {**runs[key], "cells": {**runs[key]["cells"], **run["cells"]},
                             "hindsight": {**runs[key]["hindsight"], **run["hindsight"]}}
    every = set().union(*(set(run.get("hindsight", {})) for run in runs.values() if "auto" not in run))
    for key, run in runs.items():
        if "cells" not in run or ("auto" not in run and set(run["hindsight"]) != every):
            continue  # not a run of auto's cells, or a grid still running (a recipe without its test score)
        key = key.split(":")[-1]
        run = {**run, "key": key}
        by_set.setdefault(key.split("/")[0] + " / " + key.split("/")[2], []).append(run)
    hs = [run["hindsight"] for rs in by_set.values() for run in rs]
    print("recipes by mean test accuracy over these runs (prior_se's PREFERENCE when they are the design sets): " +
          ", ".join(f"{c} {statistics.mean(h[f'{c}|{b}'] for h in hs for b in [next(iter(h)).split('|')[1]]):.4f}"
                    for c in order_of(hs)))
    print(f"prior_se as shipped: PREFERENCE = {A.PREFERENCE}" + ("; prior_se (LOO): the best recipe of the other "
          "datasets of these results (leave one dataset out) first, then the registry's order" if a.loo else "") + "\n")
    cols = [*RULES, "prior_se (LOO)"] if a.loo else list(RULES)
    rows, picks, cover = {}, {}, {}
    for dataset, rs in by_set.items():
        others = [run["hindsight"] for d, rr in by_set.items() if d != dataset for run in rr]
        r = rows.setdefault(dataset, {"best": [run["hindsight"] for run in rs], **{n: [] for n in cols}})
        for run in rs:
            for n in cols:
                if n == "prior_se (LOO)":
                    shipped, A.PREFERENCE = A.PREFERENCE, order_of(others)[:1] if others else ()
                    pick = replay(run, "prior_se")
                    A.PREFERENCE = shipped
                else:
                    pick = replay(run, n)
                r[n].append(run["hindsight"][pick])
                for k in (n, f"{dataset} {n}"):  # over all runs, and per dataset
                    picks.setdefault(k, []).append(pick.split("|")[0])
                    cover.setdefault(k, []).append(covered(run, pick))
    print("| dataset / backbones | seeds | best fixed recipe in hindsight | " + " | ".join(cols) + " |")
    print("|---|---:|---|" + "---:|" * len(cols))
    for dataset, r in rows.items():
        fixed = {c: statistics.mean(h[c] for h in r["best"]) for c in r["best"][0]}
        best = max(fixed, key=fixed.get)
        print(f"| {dataset} | {len(r['best'])} | {fixed[best]:.4f} ({best.replace('|', ' on ')}) | " +
              " | ".join(f"{statistics.mean(r[n]):.4f} ({100 * (statistics.mean(r[n]) - fixed[best]):+.2f})"
                         for n in cols) + " |")
    print()
    lib = {}
    for name in a.library:  # bench/backbones.py keys: dataset/backbone/method/seed
        for k, v in load_results(RESULTS / f"{name}.json").get("runs", {}).items():
            ds, b, m, seed = k.split("/")
            if m == "setfit_lib":
                lib[f"{ds}/{seed}/{b}"] = v["accuracy"]
    for dataset, rs in by_set.items():
        for n in cols:
            have = [(run["key"], got) for run, got in zip(rs, rows[dataset][n]) if run["key"] in lib]
            if have:
                d = [100 * (got - lib[k]) for k, got in have]
                print(f"{dataset}, {n} - the setfit library, per sample ({', '.join(k.split('/')[1] for k, _ in have)})"
                      f": {' / '.join(f'{x:+.1f}' for x in d)} (mean {statistics.mean(d):+.2f}; library "
                      f"{statistics.mean(lib[k] for k, _ in have):.4f})")
    per_set = [f"{d} {n}" for d in by_set for n in cols] if len(by_set) > 1 else []
    for k in per_set + cols:
        cv = [c for c in cover[k] if c is not None]
        print(f"{k} chose: " +
              ", ".join(f"{c} x{picks[k].count(c)}" for c in sorted(set(picks[k]))) +
              (f"; the reported CV interval holds the test score in {sum(cv)} of {len(cv)} runs" if cv else ""))


if __name__ == "__main__":
    main()
