"""Fine-tuning accuracy over seeds, resumable: each finished (setting, seed) cell is stored and skipped on rerun.

    python bench/fewshot.py --dataset sst2 --k 16 --seeds 0 1 2 3 4     # SST-2, 16 labeled per class
    python bench/fewshot.py --dataset sst2 --full --seeds 0             # all 6,920 training sentences
    python bench/fewshot.py --dataset conll2003 --fraction 0.01 --seeds 0 1 2
    python bench/fewshot.py --dataset sst2 --k 16 --pairs 20 --epochs 0 --tag=-setfit   # SetFit (contrastive + LR)

Prints one table (mean +- std over seeds) and writes bench/results/fewshot-<setting>.json.
The default backbone is the packaged all-MiniLM-L6-v2.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, data_config, load_results, machine, save_results  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="sst2")
    ap.add_argument("--k", type=int, help="labeled examples per class (NER: sentences)")
    ap.add_argument("--fraction", type=float, help="fraction of the training set")
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--head-lr", type=float, default=1e-3)
    ap.add_argument("--patience", type=int, default=5)
    ap.add_argument("--eval-every", type=int, default=0)
    ap.add_argument("--aug", action="append", default=[], help="augmenter spec (repeatable), e.g. eda:alpha=0.05,n=16")
    ap.add_argument("--lp-init", action="store_true", help="LP-FT: logistic-regression head before fine-tuning")
    ap.add_argument("--multiview", help="second-view augmenter with consistency loss, e.g. reverse")
    ap.add_argument("--pairs", type=int, default=0, help="SetFit contrastive stage: R pairs per text (SetFit: 20); "
                    "with --epochs 0 the head is a logistic regression on the tuned encoder (SetFit as published)")
    ap.add_argument("--pair-epochs", type=int, default=1)
    ap.add_argument("--tag", default="", help="suffix of the result name, e.g. -eda")
    a = ap.parse_args()

    from lowdata.config import AugmentConfig, Config, ContrastiveConfig, ModelConfig, TrainConfig
    from lowdata.methods.finetune import run

    setting = f"{a.dataset}-" + ("full" if a.full else f"k{a.k}" if a.k else f"frac{a.fraction}") + a.tag
    path = RESULTS / f"fewshot-{setting}.json"
    res = load_results(path) or {"setting": setting, "args": vars(a), "machine": machine(), "runs": {}}
    for seed in a.seeds:
        if str(seed) in res["runs"]:
            print(f"seed {seed}: done already ({res['runs'][str(seed)]['score']:.4f})")
            continue
        dc = data_config(a.dataset, k_per_class=a.k, fraction=a.fraction, sample_seed=seed)
        with tempfile.TemporaryDirectory() as out:
            cfg = Config(data=dc, model=ModelConfig(name=a.model, max_length=a.max_length),
                         train=TrainConfig(epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, head_lr=a.head_lr,
                                           patience=a.patience, seed=seed, progress=False, report_to=[],
                                           eval_every=a.eval_every, save_every=0, lp_init=a.lp_init),
                         augment=AugmentConfig(specs=a.aug, multiview=a.multiview),
                         contrastive=ContrastiveConfig(pairs=a.pairs, epochs=a.pair_epochs), output_dir=out)
            t0 = time.time()
            m = run(cfg)
        t = m["test"]
        score = t["accuracy"] if t["task"] == "classify" else t["f1"]
        res["runs"][str(seed)] = {"score": score, "n_train": m["n_train"], "steps": m["steps"],
                                  "best_step": m["best_step"], "seconds": round(time.time() - t0, 1),
                                  "strict_f1": t.get("strict", {}).get("f1")}
        save_results(path, res)
        print(f"seed {seed}: test {'accuracy' if t['task'] == 'classify' else 'entity F1'} {score:.4f} "
              f"({m['n_train']} train, {m['steps']} steps, {time.time() - t0:.0f}s)", flush=True)
    scores = [r["score"] for r in res["runs"].values()]
    res["mean"], res["std"] = statistics.mean(scores), statistics.stdev(scores) if len(scores) > 1 else 0.0
    save_results(path, res)
    print(f"\n| setting | seeds | test score mean | std |\n|---|---:|---:|---:|\n"
          f"| {setting} | {len(scores)} | {res['mean']:.4f} | {res['std']:.4f} |")


if __name__ == "__main__":
    main()
