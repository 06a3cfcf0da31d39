"""Which node features and neighbourhood size make the best first teacher? A probe of the seed graph on AG News.

    python bench/graph_views.py --seeds 0 1 2        # about 4 minutes a seed on 2 cores, embeddings cached

For each seed (10 labeled per class from the 10,001 pool, the rest + the official 7,600 test as unlabeled nodes,
as in the `gcn` row of semi_supervised.py): the 2-layer GCN (ssl/graph.py, Kipf & Welling 2017) over
  - minilm:        the frozen MiniLM sentence vectors (max_length 64), kNN graph k=10: lowdata's seed graph;
  - minilm_k20:    the same, k=20;
  - tfidf:         TF-IDF of words and bigrams reduced to 256 dimensions (truncated SVD, i.e. LSA), k=10;
  - minilm+tfidf:  the two views concatenated (TF-IDF part scaled by --tfidf-weight, then L2-normalised), k=10:
                   graph and features from both views, a cheap alternative to co-training (Blum & Mitchell 1998).
Scores: accuracy on the pool (its hidden labels, only to score) and on test, and the pseudo-labels self-training
would keep (confidence >= 0.9, before class balancing) with their share right. Writes
bench/results/graph_views-agnews.json.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, data_config, machine, save_results  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threshold", type=float, default=0.9)
    ap.add_argument("--tfidf-weight", type=float, default=0.5)
    a = ap.parse_args()

    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    from lowdata.data import LabelMap
    from lowdata.data.splits import load_splits
    from lowdata.ssl.embedding import cached_embed
    from lowdata.ssl.graph import gcn

    rows = []
    for seed in a.seeds:
        s = load_splits(data_config("agnews", k_per_class=a.k, sample_seed=seed), seed=seed)
        tr, un, te = s["train"], s["unlabeled"], s["test"]
        names = LabelMap.from_data(tr)
        y = np.array([names.encode(v) for v in tr.labels])
        truth = {"pool": np.array([names.encode(v) for v in s["unlabeled_truth"]]),
                 "test": np.array([names.encode(v) for v in te.labels])}
        texts = tr.texts + un.texts + te.texts
        n_l, n_u = len(tr.texts), len(un.texts)
        E = cached_embed(texts, "minilm", 64)
        tfidf = TfidfVectorizer(sublinear_tf=True, min_df=2, ngram_range=(1, 2)).fit_transform(texts)
        S = normalize(TruncatedSVD(256, random_state=seed).fit_transform(tfidf))
        views = {"minilm": (E, 10), "minilm_k20": (E, 20), "tfidf": (S, 10),
                 "minilm+tfidf": (normalize(np.hstack([E, a.tfidf_weight * S])), 10)}
        for view, (X, k) in views.items():
            P = gcn(X[:n_l], y, X[n_l:], k=k, seed=seed)
            pool, test = P[:n_u], P[n_u:]
            conf = pool.max(1) >= a.threshold
            row = {"seed": seed, "view": view, "k": k,
                   "pool_accuracy": float(np.mean(pool.argmax(1) == truth["pool"])),
                   "test_accuracy": float(np.mean(test.argmax(1) == truth["test"])),
                   "confident": int(conf.sum()),
                   "confident_right": float(np.mean(pool.argmax(1)[conf] == truth["pool"][conf]))}
            rows.append(row)
            print(f"seed {seed} {view:13s} pool {row['pool_accuracy']:.4f}  test {row['test_accuracy']:.4f}  "
                  f">= {a.threshold}: {row['confident']} ({row['confident_right']:.4f} right)", flush=True)
    print("\nmean over seeds:")
    for view in dict.fromkeys(r["view"] for r in rows):
        r = [x for x in rows if x["view"] == view]
        print(f"  {view:13s} pool {np.mean([x['pool_accuracy'] for x in r]):.4f}  "
              f"test {np.mean([x['test_accuracy'] for x in r]):.4f} +- {np.std([x['test_accuracy'] for x in r]):.4f}")
    save_results(RESULTS / "graph_views-agnews.json", {"args": vars(a), "machine": machine(), "rows": rows})


if __name__ == "__main__":
    main()
