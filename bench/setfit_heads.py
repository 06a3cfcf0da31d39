"""Heads over the SetFit-tuned encoder, on the design sets: does the unlabeled pool add to SetFit-style? Resumable.

    python bench/setfit_heads.py --datasets mr pc --seeds 0 1 2

For each sample (bench/backbones.py's splits_for: 16/class, a fixed 1,000-text test draw, a 2,000-text pool, no dev):
SetFit-style as lowdata auto's recipe runs it, then over the tuned encoder's vectors of the labels, the pool and the
test texts: the logistic head alone ("lr", SetFit itself), label spreading and a GCN over the kNN graph of all of them
(transductive, as lowdata.methods.frozen with contrastive.pairs), and one round of self-training of the logistic
head on the pool's pseudo-labels from the head ("st_lr") or from the GCN ("st_gcn"): the top 20% of each predicted
class, balanced; "pl_gcn" lowdata's frozen.pseudo_labels=gcn (methods/frozen.py), the same with the GCN over the
labels and the pool only, so that the test texts are never in a graph and the result is an inductive model (a
logistic head over the tuned encoder: `lowdata auto`'s "setfit+pl" recipe). Design sets only
(MR, Pros & Cons): whether one of these earns a place among auto's candidates is decided here, never on a
benchmark's test set. Writes bench/results/<--results>.json after every sample.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backbones import splits_for  # noqa: E402
from common import RESULTS, load_results, machine, save_results  # noqa: E402


def heads(splits: dict, seed: int, max_length: int) -> dict:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from lowdata.config import load_config
    from lowdata.data import LabelMap
    from lowdata.methods import train as train_method
    from lowdata.methods.auto import RECIPES, _cfg
    from lowdata.ssl.graph import embed, gcn, propagate

    tr, pool, te = splits["train"], splits["unlabeled"], splits["test"]
    lab = LabelMap.from_data(tr)
    y, yt = (np.array([lab.encode(v) for v in d.labels]) for d in (tr, te))
    base = load_config(None, [f"model.max_length={max_length}", f"train.seed={seed}", "train.progress=false",
                              "train.report_to=[]"])
    with tempfile.TemporaryDirectory() as tmp:
        cfg = _cfg(base, next(r for r in RECIPES if r.name == "setfit"), "minilm", os.path.join(tmp, "run"))
        m = train_method(cfg, {"train": tr, "dev": None, "test": te, "unlabeled": None})
        El, Eu, Et = (embed(d.texts, os.path.join(tmp, "run", "model"), max_length=max_length) for d in (tr, pool, te))
    acc = lambda p: float((p == yt).mean())  # noqa: E731
    res = {"setfit": m["test"]["accuracy"]}
    lr = LogisticRegression(max_iter=2000, C=1.0, random_state=seed).fit(El, y)
    res["lr"] = acc(lr.predict(Et))
    U = np.vstack([Eu, Et])
    P = gcn(El, y, U, k=10, seed=seed)
    res["gcn"] = acc(P[-len(te):].argmax(1))
    res["spread"] = acc(propagate(El, y, U, k=10, alpha=0.99)[-len(te):].argmax(1))
    for name, Pu in (("st_lr", lr.predict_proba(Eu)), ("st_gcn", P[: len(Eu)])):
        pred = Pu.argmax(1)
        top = [idx[np.argsort(-Pu[idx, c])][: max(1, int(0.2 * len(idx)))]
               for c in range(len(lab)) for idx in [np.flatnonzero(pred == c)]]
        n = min(len(t) for t in top)  # balanced: as many per class as the rarest class keeps
        keep = np.concatenate([t[:n] for t in top])
        lr2 = LogisticRegression(max_iter=2000, C=1.0, random_state=seed).fit(np.vstack([El, Eu[keep]]),
                                                                               np.concatenate([y, pred[keep]]))
        res[name] = acc(lr2.predict(Et))
    # the shipped method (frozen.pseudo_labels=gcn, methods/frozen.py pseudo_labeled): the same, the GCN over the
    # labels and the pool only, the top portion of each predicted class (rounded up) cut to the rarest class's count
    from lowdata.methods.frozen import pseudo_labeled

    cfg = load_config(None, [f"train.seed={seed}", "ssl.method=frozen_lr", "frozen.pseudo_labels=gcn"])
    X, Y = pseudo_labeled(cfg, pool, El, y, lambda d: Eu, info := {})
    res["pl_gcn"] = acc(LogisticRegression(max_iter=2000, C=1.0, random_state=seed).fit(X, Y).predict(Et))
    res["pl_gcn_kept"] = info["pseudo_labels"]["kept"]
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["mr", "pc"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--results", default="setfit-heads")
    ap.add_argument("--test-sample", type=int, default=1000)
    ap.add_argument("--unlabeled", type=int, default=2000)
    ap.add_argument("--max-length", type=int, default=64)
    a = ap.parse_args()
    path = RESULTS / f"{a.results}.json"
    res = load_results(path) or {"machine": machine(), "runs": {}}
    for seed in a.seeds:
        for ds in a.datasets:
            key = f"{ds}/{seed}"
            if "pl_gcn" not in res["runs"].get(key, {}):  # absent, or from before that head existed
                t0 = time.time()
                res["runs"][key] = {**heads(splits_for(ds, seed, a), seed, a.max_length),
                                    "seconds": round(time.time() - t0, 1)}
                save_results(path, res)
            print(key, {k: round(v, 4) for k, v in res["runs"][key].items()}, flush=True)
    import statistics

    names = [k for k in next(iter(res["runs"].values())) if k not in ("seconds", "pl_gcn_kept")]
    for ds in a.datasets:
        rs = [v for k, v in res["runs"].items() if k.split("/")[0] == ds]
        gain = lambda n: 100 * statistics.mean(r[n] - r["setfit"] for r in rs)  # noqa: E731  paired, points
        print(f"{ds} ({len(rs)} samples): " + ", ".join(f"{n} {statistics.mean(r[n] for r in rs):.4f} "
                                                         f"({gain(n):+.2f})" for n in names))


if __name__ == "__main__":
    main()
