"""Are the graph's wrong pseudo-labels detectable? A diagnostic for graph-seeded self-training on AG News.

    python bench/pseudo_label_noise.py --seeds 0 1 2        # about a minute a seed (the GCN), embeddings cached

For each seed: the round-0 pseudo-labels of gcn_self_training (the GCN over frozen MiniLM embeddings of the 40 labels
+ the 9,961-text pool, confidence >= 0.9, class-balanced), how many are wrong (the pool's hidden labels, used here
only to score), and whether out-of-sample predictions flag the wrong ones. A classifier on another view of the text
(TF-IDF of words and bigrams) or on the same embeddings is trained on the pseudo-labels by 5-fold cross-fitting, and
an example is flagged where
  - the held-out prediction disagrees with the pseudo-label, or
  - confident learning flags it (Northcutt et al., JAIR 2021, "Confident Learning: Estimating Uncertainty in Dataset
    Labels"): per-class thresholds t_j = mean held-out probability of class j over the examples labeled j; the
    example's estimated true class is the most probable class among those whose probability reaches its threshold
    (the confident joint's rule), and it is flagged when that class is not its pseudo-label.
Deviation: confident learning's pruning by the estimated noise rate (and its calibration of the joint) is not done;
the flags are the off-diagonal entries of the confident joint, the paper's "C_confusion"-style selection.
Also prints which true classes the wrong pseudo-labels come from. A filter worth using would catch many wrong labels and drop few right ones. Writes
bench/results/pseudo_label_noise-agnews.json.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, data_config, gcn_pseudo_labels, machine, save_results  # noqa: E402


def confident_learning_flags(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Off-diagonal entries of the confident joint (Northcutt et al. 2021): True where the estimated true class
    (argmax over the classes whose held-out probability reaches that class's mean self-confidence) is not y.
    Examples with no class above its threshold are not counted in the joint, so not flagged."""
    k = probs.shape[1]
    t = np.array([probs[y == j, j].mean() if (y == j).any() else 1.0 for j in range(k)])
    above = probs >= t
    est = np.where(above, probs, -1.0).argmax(1)
    return above.any(1) & (est != y)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threshold", type=float, default=0.9)
    ap.add_argument("--max-length", type=int, default=64)
    a = ap.parse_args()

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    from lowdata.data.splits import load_splits
    from lowdata.ssl.embedding import cached_embed

    rows, errors = [], []
    for seed in a.seeds:
        s = load_splits(data_config("agnews", k_per_class=a.k, sample_seed=seed), seed=seed)
        truth = s["unlabeled_truth"]
        data, keep = gcn_pseudo_labels(s, seed, a.threshold, "minilm", a.max_length)
        names = sorted(set(data.labels))
        y = np.array([names.index(v) for v in data.labels])
        right = np.array([truth[i] == v for i, v in zip(keep, data.labels)])
        pairs = {}
        for i, v in zip(keep, data.labels):
            if truth[i] != v:
                pairs[f"{truth[i]} -> {v}"] = pairs.get(f"{truth[i]} -> {v}", 0) + 1
        pairs = dict(sorted(pairs.items(), key=lambda kv: -kv[1]))
        print(f"seed {seed}: {len(y)} pseudo-labels, {right.mean():.4f} right ({(~right).sum()} wrong; true -> "
              f"pseudo: {', '.join(f'{k} {n}' for k, n in list(pairs.items())[:4])})", flush=True)
        errors.append({"seed": seed, "pseudo_labels": int(len(y)), "wrong": int((~right).sum()), "pairs": pairs})
        views = {"tfidf": TfidfVectorizer(sublinear_tf=True, min_df=2, ngram_range=(1, 2)).fit_transform(data.texts),
                 "minilm": cached_embed(s["unlabeled"].texts, "minilm", a.max_length)[keep]}
        for view, X in views.items():
            held = cross_val_predict(LogisticRegression(max_iter=2000), X, y, cv=5, method="predict_proba")
            for rule, flag in (("disagree", held.argmax(1) != y), ("confident_learning",
                                                                  confident_learning_flags(held, y))):
                row = {"seed": seed, "view": view, "rule": rule, "pseudo_labels": int(len(y)),
                       "wrong": int((~right).sum()), "flagged": int(flag.sum()),
                       "wrong_caught": int((flag & ~right).sum()), "right_dropped": int((flag & right).sum()),
                       "kept_right_share": float(right[~flag].mean())}
                rows.append(row)
                print(f"  {view:6s} {rule:18s} flags {row['flagged']:4d}: catches {row['wrong_caught']} of "
                      f"{row['wrong']} wrong, drops {row['right_dropped']} right; kept {len(y) - row['flagged']} "
                      f"at {row['kept_right_share']:.4f} right", flush=True)
    save_results(RESULTS / "pseudo_label_noise-agnews.json", {"args": vars(a), "machine": machine(), "errors": errors,
                                                                "rows": rows})


if __name__ == "__main__":
    main()
