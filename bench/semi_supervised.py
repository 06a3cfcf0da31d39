"""Semi-supervised learning: k labeled per class + the unlabeled rest, test error/accuracy per method and seed.

    python bench/semi_supervised.py --dataset agnews --k 10 --methods frozen_lr label_spreading gcn --seeds 0 1 2
    python bench/semi_supervised.py --dataset sst2 --k 16 --methods supervised fixmatch uda gan_bert self_training --seeds 0 1 2
    python bench/semi_supervised.py --dataset agnews --k 10 --methods gcn_seeded --epochs 2 --batch-size 32
    python bench/semi_supervised.py --dataset agnews --subsample-unlabeled 2000 --test-sample 2000 ...   # CPU-sized
                                                                                  # (says so in the output and name)

Resumable (each finished method x seed is stored in bench/results/ssl-<dataset>-k<k>.json and skipped).
Embedding methods use lowdata's embedding cache (~/.cache/lowdata/embeddings; the encoder is frozen there).
gcn_seeded is `ssl.seed_graph: gcn` self-training with one round (the GCN's --per-class most confident per class);
gcn_self_training is --rounds of self-training (threshold 0.9, balanced) whose round-0 teacher is the GCN;
gcn_ensemble_self_training: the same, but rounds after the first are taught by the mean of the model's and the
GCN's class probabilities (ssl.graph_ensemble); gcn_refresh_self_training: rounds after the first are taught by
a GCN rebuilt over the last student's embeddings (ssl.graph_refresh, Iscen et al. 2019);
gcn_self_training_fixmatch: gcn_self_training, then --fixmatch-steps of FixMatch from the last student's encoder
(head initialised by a linear probe, train.lp_init); gcn_self_training_graph_predict: gcn_self_training whose
final test predictions average the last student's and the frozen GCN's probabilities, test texts joining the graph as
unlabeled nodes (ssl.graph_predict, transductive like the gcn row); gcn_oracle is a diagnostic, not a method: round 0 of
gcn_self_training with the chosen texts' true labels (see oracle_round); self_training_cbst keeps the top --portion of each predicted class
instead (class-balanced self-training, CBST); auto_self_training trains round 0 both ways (GCN pseudo-labels + labels,
labels alone) and keeps the student with the better dev accuracy (ssl.seed_graph=auto; needs dev, so SST-2 only).
Model selection uses dev only: SST-2 has a dev split (early stopping, and self-training's final round is the one
with the best dev accuracy); AG News has none, so its fine-tuning methods train a fixed number of steps without early
stopping and self-training ends with its last round. Unlabeled examples' true labels are passed only to log
pseudo-label accuracy, never to training. Results stored before dev picked the round (SST-2, an earlier session)
were brought up to date from their per-round dev/test scores (`--reselect`, see bench/README.md).
"""
from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, ROOT, data_config, gcn_pseudo_labels, load_results, machine, save_results  # noqa: E402

from lowdata.methods import FROZEN as EMBEDDING_METHODS  # noqa: E402  (the frozen-encoder methods' names)
# no ssl loss inside the loop
LOOP_ONLY = ("supervised", "self_training", "self_training_cbst", "gcn_seeded", "gcn_self_training",
             "gcn_ensemble_self_training", "gcn_refresh_self_training", "gcn_self_training_fixmatch",
             "gcn_oracle", "fusion", "fusion_gcn_self_training", "gcn_self_training_graph_predict",
             "auto_self_training")


def embedding_method(method, splits, labels, a, seed):
    """The package's frozen-encoder method (lowdata.methods.frozen) on these splits; dev is left out, so the graph
    holds the labeled, unlabeled and test points (transductive: test labels are never read) as the bench always had."""
    from lowdata.config import Config, FrozenConfig, ModelConfig, SSLConfig, TrainConfig
    from lowdata.methods.frozen import run

    with tempfile.TemporaryDirectory() as out:
        cfg = Config(model=ModelConfig(name=a.model, max_length=a.max_length), ssl=SSLConfig(method=method),
                     train=TrainConfig(seed=seed, progress=False, report_to=[]),
                     frozen=FrozenConfig(k=a.knn, alpha=a.alpha, C=a.lr_c), output_dir=os.path.join(out, "run"))
        m = run(cfg, {**splits, "dev": None})
    return m["test"]["accuracy"]


def tapt_encoder(splits, a) -> str:
    """The pool's text after --tapt-epochs of continued MLM (one run shared by every seed; see the docstring)."""
    from lowdata.config import Config, FusionConfig, ModelConfig, TrainConfig
    from lowdata.data import TextData
    from lowdata.pretrain import fusion

    texts = sorted(splits["train"].texts + splits["unlabeled"].texts)  # the whole pool, in an order no seed sets
    cfg = Config(model=ModelConfig(name=a.model, max_length=a.max_length),
                 train=TrainConfig(seed=0, progress=a.progress, report_to=[]),
                 pretrain=FusionConfig(epochs=a.tapt_epochs),
                 output_dir=str(ROOT / "runs" / f"bench-tapt-{a.dataset}-e{a.tapt_epochs}"))
    return fusion.adapt(cfg, {"train": TextData(texts, source="pool")}).model.name


def finetune_method(method, splits, a, seed):
    from lowdata.config import Config, ModelConfig, SSLConfig, TrainConfig
    from lowdata.methods.self_training import self_train
    from lowdata.methods.finetune import run

    with tempfile.TemporaryDirectory() as tmp:
        # --run-dir: self-training keeps its rounds in <run-dir>/<seed> and resumes there (finished rounds are read
        # back, so gcn_self_training_graph_predict can score a finished gcn_self_training run of the same recipe)
        out = os.path.join(a.run_dir, str(seed)) if a.run_dir else tmp
        has_dev = splits.get("dev") is not None
        tc = TrainConfig(epochs=a.epochs, max_steps=a.steps, batch_size=a.batch_size, lr=a.lr, head_lr=a.head_lr,
                         patience=a.patience if has_dev else 0, eval_every=a.eval_every if has_dev else 0,
                         seed=seed, progress=a.progress, report_to=[], save_every=0, gce_q=a.gce_q)
        sc = SSLConfig(method=None if method in LOOP_ONLY else method, mu=a.mu,
                       threshold=a.threshold, warmup=a.warmup, align=a.align, strong=a.strong)
        model = tapt_encoder(splits, a) if method.startswith("fusion") else a.model
        cfg = Config(model=ModelConfig(name=model, max_length=a.max_length), train=tc, ssl=sc, output_dir=out)
        if method == "self_training":
            m = self_train(cfg, splits, rounds=a.rounds, threshold=a.threshold or 0.9)
        elif method == "self_training_cbst":  # class-balanced self-training: top --portion of each predicted class
            m = self_train(cfg, splits, rounds=a.rounds, portion=a.portion)
        elif method == "gcn_seeded":  # one round: the GCN's --per-class most confident per class + the labels
            m = self_train(cfg, splits, rounds=1, threshold=0.0, max_per_class=a.per_class, seed_graph="gcn")
        elif method in ("gcn_self_training", "fusion_gcn_self_training", "gcn_self_training_graph_predict"):
            # self-training whose round-0 teacher is the GCN (same threshold); optionally graph + student at test
            m = self_train(cfg, splits, rounds=a.rounds, threshold=a.threshold or 0.9, seed_graph="gcn",
                           graph_predict=method.endswith("graph_predict"), resume=bool(a.run_dir))
        elif method == "auto_self_training":  # round 0 with and without the GCN's pseudo-labels; dev keeps one
            m = self_train(cfg, splits, rounds=a.rounds, threshold=a.threshold or 0.9, seed_graph="auto",
                           resume=bool(a.run_dir))
        elif method == "gcn_ensemble_self_training":  # the same, later teachers = mean(model, GCN) probabilities
            m = self_train(cfg, splits, rounds=a.rounds, threshold=a.threshold or 0.9, seed_graph="gcn",
                           graph_ensemble=True)
        elif method == "gcn_self_training_fixmatch":  # then FixMatch from the last student's encoder
            m0 = self_train(cfg, splits, rounds=a.rounds, threshold=a.threshold or 0.9, seed_graph="gcn")
            c2 = copy.deepcopy(cfg)
            final = m0["self_training"][m0["selected_round"]]["run"]  # the last round without dev
            c2.model.name, c2.output_dir = os.path.join(out, final, "model"), os.path.join(out, "fm")
            # the head starts as a linear probe on the student's features (lp_init), so FixMatch's first
            # pseudo-labels come from an 85%-accurate model, not a random head
            c2.ssl.method, c2.ssl.threshold, c2.train.lp_init = "fixmatch", None, True
            c2.train.max_steps = a.fixmatch_steps
            m = run(c2, splits)
            m["self_training"] = m0["self_training"] + [{"fixmatch_steps": a.fixmatch_steps,
                                                         "test": m["test"]["accuracy"]}]
        elif method == "gcn_refresh_self_training":  # later teachers = a GCN over the student's embeddings
            m = self_train(cfg, splits, rounds=a.rounds, threshold=a.threshold or 0.9, seed_graph="gcn",
                           graph_refresh=True)
        elif method == "gcn_oracle":  # diagnostic, not a method: round 0's texts with their TRUE labels
            m = oracle_round(cfg, splits, a, seed)
        else:
            m = run(cfg, splits)
    hist = m.get("self_training") or []
    sel = m.get("selected_round", len(hist) - 1)  # self-training's final round: best dev (the last without dev)
    if "student" in m:  # graph_predict: the final student's own score beside the ensemble's
        hist[sel]["student_test"] = m["student"]["test"]["accuracy"]
    info = {"rounds": hist, "selected_round": sel} if len(hist) > 1 else \
        {k: v for k, v in (hist or [{}])[0].items() if k in ("pseudo_labeled", "pseudo_acc")}
    return m["test"]["accuracy"], info


def oracle_round(cfg, splits, a, seed):
    """Diagnostic (uses the pool's hidden labels for training, so it is no semi-supervised method): the texts that
    gcn_self_training's round 0 picks (GCN, threshold, balanced), trained on with their true labels instead of the
    GCN's. Against that round's student it splits the student's gap to the full-label model in two: what the
    pseudo-labels' errors cost (oracle - round 0) and what training on the graph's confident subset alone costs
    (all-label model - oracle). The stored pseudo_acc is the share of the GCN's labels for these texts that were
    right (what round 0 trains on); the oracle itself trains on labels that are all right."""
    from lowdata.data import TextData
    from lowdata.methods.finetune import run

    tr, truth = splits["train"], splits["unlabeled_truth"]
    data, keep = gcn_pseudo_labels(splits, seed, a.threshold or 0.9, cfg.model.name, cfg.model.max_length)
    right = float(np.mean([truth[i] == y for i, y in zip(keep, data.labels)]))
    train = TextData(tr.texts + data.texts, tr.labels + [truth[i] for i in keep], source=tr.source)
    m = run(cfg, {**splits, "train": train})
    m["self_training"] = [{"round": 0, "teacher": "oracle", "pseudo_labeled": len(keep), "pseudo_acc": right,
                           "test": m["test"]["accuracy"]}]
    return m


def reselect(res, path):
    """Self-training runs stored before dev picked the final round (they scored the last round): re-score them with
    the round of best dev accuracy, the first of equals, as self_train does now. Every round's dev and test accuracy
    is stored, and each round is trained the same whichever is picked, so this is what a rerun would give. The old
    score stays under accuracy_last_round. Runs with graph_predict are left alone (their score depends on which
    student is averaged with the graph: rerun those), as are runs without dev."""
    from lowdata.methods.self_training import _selected_round

    for key, r in res["runs"].items():
        rounds = r.get("rounds")
        if not rounds or "selected_round" in r or any(h.get("dev") is None for h in rounds) or \
                any("graph_predict" in h or "student_test" in h for h in rounds):
            continue
        sel = _selected_round(rounds, "dev")
        r["accuracy_last_round"], r["accuracy"], r["selected_round"] = r["accuracy"], rounds[sel]["test"], sel
        print(f"{key}: round {sel} of {len(rounds)} by dev, test {r['accuracy_last_round']:.4f} -> {r['accuracy']:.4f}")
    save_results(path, res)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="agnews")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--methods", nargs="+", default=["frozen_lr", "label_spreading", "gcn", "supervised"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--subsample-unlabeled", type=int, default=0, help="CPU runs: use this many unlabeled texts")
    ap.add_argument("--test-sample", type=int, default=0,
                    help="CPU runs: score on this fixed seeded draw of test examples (the same for every run)")
    ap.add_argument("--knn", type=int, default=10)
    ap.add_argument("--alpha", type=float, default=0.99, help="label spreading clamping (Zhou et al. 2003: 0.99)")
    ap.add_argument("--lr-c", type=float, default=1.0)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--head-lr", type=float, default=1e-3)
    ap.add_argument("--patience", type=int, default=5)
    ap.add_argument("--gce-q", type=float, help="train.gce_q: generalized cross-entropy instead of cross-entropy")
    ap.add_argument("--eval-every", type=int, default=0)
    ap.add_argument("--mu", type=int, default=2)
    ap.add_argument("--threshold", type=float)
    ap.add_argument("--warmup", type=int, default=0, help="FixMatch: supervised-only steps first")
    ap.add_argument("--align", action="store_true", help="FixMatch: distribution alignment")
    ap.add_argument("--strong", help="FixMatch's strong view / UDA's augmentation, an augmenter spec (default: EDA)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--fixmatch-steps", type=int, default=600, help="gcn_self_training_fixmatch: FixMatch steps")
    ap.add_argument("--per-class", type=int, default=500, help="gcn_seeded: pseudo-labels kept per class")
    ap.add_argument("--portion", type=float, default=0.2,
                    help="self_training_cbst: first round's kept portion per class (Zou et al. 2018: 0.2, +0.05/round)")
    ap.add_argument("--tapt-epochs", type=int, default=4, help="fusion*: epochs of continued MLM on the pool")
    ap.add_argument("--run-dir", help="self-training methods: keep rounds in <run-dir>/<seed> and resume there")
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--tag", default="", help="suffix of the result name (use --tag=-x)")
    ap.add_argument("--reselect", action="store_true",
                    help="bring stored self-training runs up to date: the final round = best dev, from their rounds")
    a = ap.parse_args()

    from lowdata.data import LabelMap, TextData, fraction
    from lowdata.data.splits import load_splits

    name = f"ssl-{a.dataset}-k{a.k}" + (f"-u{a.subsample_unlabeled}" if a.subsample_unlabeled else "") + \
        (f"-t{a.test_sample}" if a.test_sample else "") + a.tag
    path = RESULTS / f"{name}.json"
    res = load_results(path) or {"setting": name, "args": vars(a), "machine": machine(), "runs": {}}
    if a.reselect:
        return reselect(res, path)
    for method in a.methods:
        for seed in a.seeds:
            key = f"{method}/{seed}"
            if key in res["runs"]:
                continue
            splits = load_splits(data_config(a.dataset, k_per_class=a.k, sample_seed=seed, test_sample=a.test_sample),
                                 seed=seed)
            if a.subsample_unlabeled and len(splits["unlabeled"]) > a.subsample_unlabeled:
                u, truth = splits["unlabeled"], splits.get("unlabeled_truth")
                both = TextData(u.texts, truth, source=u.source, lines=u.lines)  # the hidden labels follow the draw
                sub = fraction(both, a.subsample_unlabeled / len(u), seed=seed)
                splits["unlabeled"] = TextData(sub.texts, source=u.source, lines=sub.lines)
                splits["unlabeled_truth"] = sub.labels if truth is not None else None
            labels = LabelMap.from_data(splits["train"])
            t0 = time.time()
            extra = {}
            if method in EMBEDDING_METHODS:
                acc = embedding_method(method, splits, labels, a, seed)
            elif method == "fusion_gcn":  # the frozen GCN over the adapted encoder
                acc = embedding_method("gcn", splits, labels, argparse.Namespace(**{**vars(a),
                                       "model": tapt_encoder(splits, a)}), seed)
            else:
                acc, extra = finetune_method(method, splits, a, seed)
            res["runs"][key] = {"accuracy": acc, "seconds": round(time.time() - t0, 1),
                                "n_unlabeled": len(splits["unlabeled"]), **extra}
            save_results(path, res)
            print(f"{method} seed {seed}: test accuracy {acc:.4f} ({time.time() - t0:.0f}s)", flush=True)
    note = f" (unlabeled subsampled to {a.subsample_unlabeled})" if a.subsample_unlabeled else ""
    note += f" (test: a fixed draw of {a.test_sample})" if a.test_sample else ""
    print(f"\n{a.dataset}, {a.k} labeled per class{note}, {a.model}\n")
    print("| method | seeds | test accuracy | test error |\n|---|---:|---:|---:|")
    for method in a.methods:
        sc = [r["accuracy"] for k, r in res["runs"].items() if k.split("/")[0] == method]
        if sc:
            m, s = statistics.mean(sc), statistics.stdev(sc) if len(sc) > 1 else 0.0
            print(f"| {method} | {len(sc)} | {m:.4f} +- {s:.4f} | {1 - m:.4f} |")


if __name__ == "__main__":
    main()
