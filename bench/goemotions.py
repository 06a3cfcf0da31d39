"""Multi-label few-shot on GoEmotions (issue 24): 28 labels and the 7-label Ekman grouping, k labels per label.

    python bench/goemotions.py                                   # every cell; resumable (one JSON row per cell)
    python bench/goemotions.py --sets ekman --k 8 --methods frozen_lr --seeds 0 1 2 3 4

Cells: set (original = 27 emotions + neutral, ekman = 6 + neutral) x k (8, 32 per label, k_per_label sampling from
the 43,410 training comments; "full" = every training comment, one seed, frozen_lr, and finetune for one epoch) x
method (frozen_lr: frozen MiniLM + one logistic regression per label, C=10, thresholds by 5-fold CV
inside the labels; finetune: MiniLM fine-tuned with BCE, 10 epochs, fixed threshold 0.5 (no dev: true few-shot);
setfit: 20 rounds of label-sharing pairs, then the frozen_lr head on the tuned vectors, CV thresholds;
self_training: finetune, then 1 round of per-label confident pseudo-labels (>= 0.9 / <= 0.1 on every label, at most 32
per label) from a fixed 4,000-comment sample of the training texts as pool (its labels unread)) x seed.
No dev set anywhere. Test: a fixed 2,000-comment draw of the official test split (5,427), the same for every cell.
Reference (Demszky et al. 2020, BERT-base, all 43k training comments, thresholds on dev): macro-F1 0.46 (28 labels),
0.64 (Ekman).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import DATA, RESULTS, ROOT, load_results, machine, save_results  # noqa: E402

OUT = RESULTS / "goemotions.json"
RANK = {"frozen_lr": 0, "finetune": 1, "setfit": 2, "self_training": 3}  # cheap methods first


def cell(gset: str, k, method: str, seed: int, test_sample: int) -> dict:
    from lowdata.config import (Config, ContrastiveConfig, DataConfig, FrozenConfig, ModelConfig, SSLConfig,
                                TrainConfig)
    from lowdata.methods import train

    g = DATA / "goemotions" / gset
    data = DataConfig(train=str(g / "train.tsv"), test=str(g / "test.tsv"), format="tsv", task="multilabel",
                      text_column=0, label_column=1, label_names=str(g / "labels.txt"),
                      k_per_class=None if k == "full" else k, sample_seed=seed, test_sample=test_sample)
    tc = TrainConfig(epochs=10, batch_size=16, lr=5e-5, head_lr=1e-3, progress=False, report_to=[], seed=seed,
                     save_every=0)
    cfg = Config(data=data, model=ModelConfig(name="minilm", max_length=64), train=tc, frozen=FrozenConfig(C=10.0),
                 output_dir=str(ROOT / "runs" / "bench-goemotions" / f"{gset}-{k}-{method}-{seed}"))
    if k == "full":  # every training comment: one epoch (43k comments; the GoEmotions paper trains 4)
        cfg.train.epochs, cfg.train.batch_size = 1, 32
    if method == "frozen_lr":
        cfg.ssl = SSLConfig(method="frozen_lr")
    elif method == "self_training":  # 1 round over a 4,000-comment pool (the rest of train is 43k: hours on 2 cores)
        cfg.ssl = SSLConfig(method="self_training")
        cfg.self_training.rounds, cfg.self_training.threshold, cfg.self_training.max_per_class = 1, 0.9, 32
        pool = ROOT / "runs" / "bench-goemotions" / f"pool-{gset}.txt"
        if not pool.exists():
            import random

            rows = [ln.split("\t")[0] for ln in open(g / "train.tsv", encoding="utf-8") if ln.strip()]
            pool.parent.mkdir(parents=True, exist_ok=True)
            pool.write_text("\n".join(random.Random(0).sample(rows, 4000)) + "\n", encoding="utf-8")
        cfg.data.unlabeled = str(pool)
    elif method == "setfit":
        cfg.contrastive = ContrastiveConfig(pairs=20, epochs=1)
        cfg.train.epochs = 0
    t0 = time.time()
    m = train(cfg, overwrite=True)
    t = m["test"]
    return {"n_train": m["n_train"], "thresholds_from": m["thresholds_from"], "seconds": time.time() - t0,
            **{x: t[x] for x in ("micro_f1", "macro_f1", "weighted_f1", "subset_accuracy", "hamming_loss")}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sets", nargs="+", default=["ekman", "original"])
    p.add_argument("--k", nargs="+", default=["8", "32", "full"])
    p.add_argument("--methods", nargs="+", default=["frozen_lr", "finetune", "setfit"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--max-seeds", nargs="+", default=["finetune=3", "setfit=2"],
                   help="fewer seeds for the costly methods, method=n")
    p.add_argument("--test-sample", type=int, default=2000)
    a = p.parse_args()
    cap = {x.split("=")[0]: int(x.split("=")[1]) for x in a.max_seeds}
    res = load_results(OUT)
    res.update({"machine": machine(), "protocol": "true few-shot: k per label, no dev; 2,000-comment test draw",
                "backbone": "minilm"})
    cells = res.setdefault("cells", {})
    order = sorted(((s, k, m, sd) for s in a.sets for k in a.k for m in a.methods
                    for sd in a.seeds[: cap.get(m, len(a.seeds))]
                    if not (k == "full" and (m not in ("frozen_lr", "finetune") or sd != a.seeds[0]))),
                   key=lambda c: (RANK[c[2]], c[1] == "full", c[3]))
    for s, k, m, sd in order:
        key = f"{s}|{k}|{m}|{sd}"
        if key in cells:
            continue
        kk = k if k == "full" else int(k)
        cells[key] = {**cell(s, kk, m, sd if k != "full" else 0, a.test_sample),
                      "commit": os.popen(f"git -C {ROOT} rev-parse --short HEAD").read().strip()}
        print(key, {x: round(v, 4) if isinstance(v, float) else v for x, v in cells[key].items()}, flush=True)
        save_results(OUT, res)
    summary = {}
    for key, c in cells.items():
        s, k, m, _ = key.split("|")
        summary.setdefault(f"{s}|{k}|{m}", []).append(c)
    res["summary"] = {g: {x: {"mean": statistics.mean(c[x] for c in cs),
                              "sd": statistics.pstdev(c[x] for c in cs) if len(cs) > 1 else 0.0, "n": len(cs)}
                          for x in ("micro_f1", "macro_f1", "subset_accuracy", "hamming_loss", "seconds")}
                      for g, cs in summary.items()}
    save_results(OUT, res)
    print("| set | labels/label | method | micro-F1 | macro-F1 | subset acc | seeds |")
    for g, v in sorted(res["summary"].items()):
        s, k, m = g.split("|")
        print(f"| {s} | {k} | {m} | {v['micro_f1']['mean']:.3f} +- {v['micro_f1']['sd']:.3f} | "
              f"{v['macro_f1']['mean']:.3f} +- {v['macro_f1']['sd']:.3f} | {v['subset_accuracy']['mean']:.3f} | "
              f"{v['micro_f1']['n']} |")


if __name__ == "__main__":
    main()
