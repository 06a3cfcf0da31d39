"""When to stop, on the simulated loop: lowdata's expected-gain rule against stabilising predictions (Bloodgood &
Vijay-Shanker 2009, small-text's StabilizingPredictions: kappa >= 0.99 over 3 rounds), on the trajectories that
bench/active.py bought.

    python bench/active.py --datasets mr --methods frozen_lr --suffix lr          # first (MR: the design set)
    python bench/active_stopping.py --datasets mr sst2 trec agnews --suffix lr

A trajectory is the order in which a strategy bought the pool's labels (bench/active.py: re-scored at each budget of
the study, 4, 8, 16, ... per class). At a label count the state is the first that-many labels bought; a frozen LR
(C=10, the study's model) is fitted on them. Rules, each in its own setting:
- kappa: Bloodgood & Vijay-Shanker's rule over small constant rounds, as they ran it: a round every --kappa-step
  labels per class (default 2) from the first budget to the last; predictions on a fixed stop set (1,000 pool texts
  by a hash of the text, bought or not: labels never read).
- kappa-doubling: the same rule over the study's doubling rounds (3 stable rounds need 4 doublings).
- gain / gain-guarded / gain-upper: over the doubling rounds, lowdata.active.stopping.next_batch_gain (CV inside
  the bought labels only) read at the next round's count: stop once its point estimate is below --min-gain (gain: as
  first built), the same but never while the surrogate's CV accuracy is not above chance (gain-guarded), or the
  upper end of its 95% fold-bootstrap interval is below --min-gain, guarded (gain-upper) (stop_by_gain).
Reported per rule: labels at the stop, test accuracy there (2,000-text test draw as in the study), and the accuracy
left on the table (the last round's minus the stop's); "fired" counts the runs where the rule stopped before the last
budget (otherwise the last round's labels are counted). MR is the design set (not a benchmark of the issue): the
variants were written after SST-2's point rule stopped at chance; the default (stop_by_gain's) was chosen on MR.
Writes bench/results/active-stopping.json (keyed by dataset, and by dataset-suffix for any suffix but lr).
Past 128 per class (the plateau study, --suffix plateau, budgets to 1,024 per class):

    python bench/active.py --datasets sst2 --methods frozen_lr --strategies random margin kmeans \
        --budgets 4 8 16 32 64 128 256 512 1024 --suffix plateau
    python bench/active_stopping.py --datasets sst2 agnews --suffix plateau --kappa-step 16
"""
from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, ROOT, load_results, save_results  # noqa: E402

RULES = ("kappa", "kappa-doubling", "gain", "gain-guarded", "gain-upper")


def main() -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from lowdata.active.stopping import next_batch_gain, stabilizing_predictions, stop_by_gain
    from lowdata.data.splits import load_splits
    from lowdata.studies.study import cell_config, load_study
    from lowdata.ssl.embedding import cached_embed

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=["mr", "sst2", "trec", "agnews"])
    p.add_argument("--suffix", default="lr")
    p.add_argument("--strategies", nargs="+")
    p.add_argument("--min-gain", type=float, default=0.01)
    p.add_argument("--kappa-step", type=int, default=2, help="labels per class a round for the kappa rule")
    a = p.parse_args()
    path = RESULTS / "active-stopping.json"
    out = load_results(path) or {}
    out.update({"kappa": {"threshold": 0.99, "window": 3},  # step and min gain: per dataset entry
                "gain_interval": "95% fold bootstrap, 200 refits"})
    out.setdefault("datasets", {})
    for ds in a.datasets:
        d = ROOT / "runs" / f"bench-active-{ds}-{a.suffix}"
        st = load_study(str(d / "study.yaml"))
        cfg = cell_config(st, f"{next(iter(st.methods))}@random", "full", 0)
        sp = load_splits(cfg.data, seed=0)
        tr, te = sp["train"], sp["test"]
        names = tr.label_set()
        C = len(names)
        y = np.array([names.index(v) for v in tr.labels])
        yt = np.array([names.index(v) for v in te.labels])
        X = cached_embed(tr.texts, cfg.model.name, cfg.model.max_length)
        Xt = cached_embed(te.texts, cfg.model.name, cfg.model.max_length)
        stop = sorted(range(len(tr)),
                      key=lambda i: hashlib.blake2b(tr.texts[i].encode(), digest_size=8).digest())[:1000]
        totals = [int(b) * C for b in st.budgets]
        fine = list(range(totals[0], totals[-1] + 1, a.kappa_step * C))
        if fine[-1] != totals[-1]:
            fine.append(totals[-1])

        def fit(b, seed):
            """(stop-set predictions, test accuracy) of a frozen LR on the labels b."""
            if len(set(y[b])) < 2:
                return np.full(len(stop), y[b][0]), float((yt == y[b][0]).mean())
            clf = LogisticRegression(max_iter=2000, C=10.0, random_state=seed).fit(X[b], y[b])
            return clf.predict(X[stop]), float(clf.score(Xt, yt))

        rows = {}
        for strat in a.strategies or st.acquisition["strategies"]:
            for seed in st.seeds:
                chosen = np.array(json.load(open(d / "acquisition" / f"{strat}-{seed}.json"))["chosen"])
                coarse = [fit(chosen[:T], seed) for T in totals]
                accs = [acc for _, acc in coarse]
                fine_fits = [fit(chosen[:T], seed) for T in fine]
                gains = []
                for i, T in enumerate(totals[:-1]):  # the last round has no next round to weigh
                    b = chosen[:T]
                    nxt = totals[i + 1] - T
                    ok = np.bincount(y[b], minlength=C)
                    gains.append(next_batch_gain(X[b], y[b], nxt, seed=seed)
                                 if (ok[ok > 0] >= 2).all() and (ok > 0).sum() >= 2 else {})
                at = {"kappa": stabilizing_predictions([pr for pr, _ in fine_fits]),
                      "kappa-doubling": stabilizing_predictions([pr for pr, _ in coarse]),
                      "gain": next((i for i, g in enumerate(gains) if stop_by_gain(g, a.min_gain, guard=False)), None),
                      "gain-guarded": next((i for i, g in enumerate(gains) if stop_by_gain(g, a.min_gain)), None),
                      "gain-upper": next((i for i, g in enumerate(gains)
                                          if stop_by_gain(g, a.min_gain, "upper")), None)}
                for rule, i in at.items():
                    grid, acc = (fine, [x for _, x in fine_fits]) if rule == "kappa" else (totals, accs)
                    j = len(grid) - 1 if i is None else i
                    rows.setdefault(strat, {}).setdefault(rule, []).append(
                        {"seed": seed, "fired": i is not None and j < len(grid) - 1, "labels": grid[j],
                         "accuracy": acc[j], "left": accs[-1] - acc[j]})
                rows[strat].setdefault("curve", []).append(accs)
                rows[strat].setdefault("gains", []).append(
                    [[g.get("gain"), *(g.get("gain_ci") or (None, None)), g.get("learning")] for g in gains])
        name = ds if a.suffix == "lr" else f"{ds}-{a.suffix}"  # the first study's keys stay as they were
        out["datasets"][name] = {"totals": totals, "kappa_rounds": fine, "kappa_step_per_class": a.kappa_step,
                                 "min_gain": a.min_gain, "rows": rows}
        save_results(path, out)
        print(f"\n## {name}: doubling rounds at {totals} labels, kappa rounds every {a.kappa_step * C}; "
              f"final = {totals[-1]}")
        print("| strategy | rule | fired (seeds) | labels at stop (mean) | accuracy at stop | accuracy left |")
        print("|---|---|---:|---:|---:|---:|")
        for strat, r in rows.items():
            for rule in RULES:
                v = r[rule]
                print(f"| {strat} | {rule} | {sum(x['fired'] for x in v)}/{len(v)} | "
                      f"{statistics.mean(x['labels'] for x in v):.0f} | {statistics.mean(x['accuracy'] for x in v):.4f}"
                      f" | {statistics.mean(x['left'] for x in v):+.4f} |")


if __name__ == "__main__":
    main()
