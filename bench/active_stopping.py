"""When to stop, on the simulated loop: lowdata's expected-gain rule against stabilising predictions (Bloodgood &
Vijay-Shanker 2009, small-text's StabilizingPredictions: kappa >= 0.99 over 3 rounds), on the trajectories that
bench/active.py bought.

    python bench/active.py --datasets agnews sst2 trec banking77 --methods frozen_lr --suffix lr   # first
    python bench/active_stopping.py --datasets agnews sst2 trec banking77 --suffix lr

Each round = one budget of the study (4, 8, 16, ... per class, so a round doubles the labels). At each round a frozen
LR (C=10, the study's model) is fitted on the bought labels; its predictions on a fixed stop set (1,000 pool texts by a
hash of the text, bought or not: labels never read) feed the kappa rule, and `next_batch_gain` (CV inside the bought
labels only) feeds the gain rule: stop once the expected gain of the next round is below --min-gain. Reported per
rule: labels at the stop, test accuracy there, and the accuracy left on the table (the last round's minus the stop's);
"never" = the rule did not fire within the budgets (its labels counted as the last round's). Writes
bench/results/active-stopping.json.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, ROOT, save_results  # noqa: E402


def main() -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from lowdata.active.stopping import next_batch_gain, stabilizing_predictions
    from lowdata.data.splits import load_splits
    from lowdata.studies.study import cell_config, load_study
    from lowdata.ssl.embedding import cached_embed

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=["agnews", "sst2", "trec", "banking77"])
    p.add_argument("--suffix", default="lr")
    p.add_argument("--strategies", nargs="+")
    p.add_argument("--min-gain", type=float, default=0.01)
    a = p.parse_args()
    out = {"min_gain": a.min_gain, "kappa": {"threshold": 0.99, "window": 3}, "datasets": {}}
    for ds in a.datasets:
        d = ROOT / "runs" / f"bench-active-{ds}-{a.suffix}"
        st = load_study(str(d / "study.yaml"))
        cfg = cell_config(st, f"{next(iter(st.methods))}@random", "full", 0)
        sp = load_splits(cfg.data, seed=0)
        tr, te = sp["train"], sp["test"]
        names = tr.label_set()
        y = np.array([names.index(v) for v in tr.labels])
        yt = np.array([names.index(v) for v in te.labels])
        X = cached_embed(tr.texts, cfg.model.name, cfg.model.max_length)
        Xt = cached_embed(te.texts, cfg.model.name, cfg.model.max_length)
        stop = sorted(range(len(tr)), key=lambda i: hashlib.blake2b(tr.texts[i].encode(), digest_size=8).digest())[:1000]
        totals = [int(b) * len(names) for b in st.budgets]
        rows = {}
        for strat in a.strategies or st.acquisition["strategies"]:
            for seed in st.seeds:
                chosen = json.load(open(d / "acquisition" / f"{strat}-{seed}.json"))["chosen"]
                preds, accs, gains = [], [], []
                for i, T in enumerate(totals):
                    b = chosen[:T]
                    C = len(names)
                    P = np.zeros((len(X), C))
                    if len(set(y[b])) < 2:
                        P[:, y[b][0]] = 1
                        Pt = np.zeros((len(Xt), C))
                        Pt[:, y[b][0]] = 1
                    else:
                        clf = LogisticRegression(max_iter=2000, C=10.0, random_state=seed).fit(X[b], y[b])
                        P[:, clf.classes_] = clf.predict_proba(X)
                        Pt = np.zeros((len(Xt), C))
                        Pt[:, clf.classes_] = clf.predict_proba(Xt)
                    preds.append(P[stop].argmax(1))
                    accs.append(float((Pt.argmax(1) == yt).mean()))
                    nxt = totals[i + 1] - T if i + 1 < len(totals) else T
                    ok = np.bincount(y[b], minlength=C)
                    g = next_batch_gain(X[b], y[b], nxt, seed=seed) if (ok[ok > 0] >= 2).all() and \
                        (ok > 0).sum() >= 2 else {}
                    gains.append(g.get("gain"))
                k_stop = stabilizing_predictions(preds)
                g_stop = next((i for i, g in enumerate(gains) if g is not None and g < a.min_gain), None)
                for rule, at in (("kappa", k_stop), ("gain", g_stop)):
                    i = len(totals) - 1 if at is None else at
                    rows.setdefault(strat, {}).setdefault(rule, []).append(
                        {"seed": seed, "fired": at is not None, "labels": totals[i], "accuracy": accs[i],
                         "left": accs[-1] - accs[i]})
                rows[strat].setdefault("curve", []).append(accs)
        out["datasets"][ds] = {"totals": totals, "rows": rows}
        print(f"\n## {ds}: rounds at {totals} labels; final round = {totals[-1]}")
        print("| strategy | rule | fired (seeds) | labels at stop (mean) | accuracy at stop | accuracy left |")
        print("|---|---|---:|---:|---:|---:|")
        for strat, r in rows.items():
            for rule in ("kappa", "gain"):
                v = r[rule]
                print(f"| {strat} | {rule} | {sum(x['fired'] for x in v)}/{len(v)} | "
                      f"{statistics.mean(x['labels'] for x in v):.0f} | {statistics.mean(x['accuracy'] for x in v):.4f}"
                      f" | {statistics.mean(x['left'] for x in v):+.4f} |")
    save_results(RESULTS / "active-stopping.json", out)


if __name__ == "__main__":
    main()
