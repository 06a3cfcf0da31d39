"""Distillation's teacher pass over the pool: float32 vs bf16 autocast (model.embed_bf16), same teacher, same texts.

    python bench/teacher_pass.py                                  # SST-2 sample 0, an mpnet SetFit-style teacher
    python bench/teacher_pass.py --dataset mr --unlabeled 5000

ssl.method=distill computes the teacher's class probabilities over the whole pool once, before the student's first
step (lowdata.ssl.distill.Distill.teacher_probs); with an mpnet teacher on 2 CPU cores that pass is minutes. The
teacher is bench/backbones.py's distill-<backbone> teacher (SetFit-style: 20 pairs a text, one epoch, logistic head;
the k labels of the seed's sample, no dev), the pool its --unlabeled texts. Each precision is timed --repeats times
in alternating order and its best (minimum) time kept, as bench/embed_speed.py does (a time includes loading the
teacher's folder, as the pass does in a run). Also printed: how often the
teacher's label (argmax) is the same under both, and the largest / mean change of a class probability: the soft
targets the student learns. Without native bf16 (lowdata.hardware.bf16_fast) the two are the same computation, and
the script says so. Writes bench/results/teacher_pass-<cpu|gpu>.json.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine, save_results  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="sst2")
    ap.add_argument("--backbone", default="mpnet")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--unlabeled", type=int, default=2000)
    ap.add_argument("--test-sample", type=int, default=1000)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    a.fp32, a.torch_dropout = False, False  # backbones.train_config's switches: the bench's defaults
    import numpy as np
    import torch
    from backbones import splits_for, teacher_config

    from lowdata.config import ModelConfig
    from lowdata.hardware import bf16_fast
    from lowdata.methods.finetune import run
    from lowdata.ssl.distill import Distill

    splits = splits_for(a.dataset, a.seed, a)
    pool = splits["unlabeled"].texts
    fast = bf16_fast("cuda" if torch.cuda.is_available() else "cpu")
    with tempfile.TemporaryDirectory() as out:
        mc = ModelConfig(name=a.backbone, max_length=a.max_length)
        teacher = teacher_config(mc, a.seed, a, os.path.join(out, "teacher"))
        t0 = time.perf_counter()
        acc = run(teacher, {**splits, "unlabeled": None})["test"]["accuracy"]
        print(f"teacher ({a.backbone} SetFit-style) test accuracy {acc:.4f} ({time.perf_counter() - t0:.0f}s)",
              flush=True)
        folder = os.path.join(out, "teacher", "model")
        names = sorted(set(splits["train"].labels))
        Distill(folder).teacher_probs(pool[:64], names)  # warm-up (thread pools, oneDNN kernels)
        Distill(folder, bf16=True).teacher_probs(pool[:64], names)
        times, probs = {False: [], True: []}, {}
        for r in range(a.repeats):
            for bf16 in ((False, True) if r % 2 == 0 else (True, False)):
                t0 = time.perf_counter()
                probs[bf16] = Distill(folder, bf16=bf16).teacher_probs(pool, names)
                times[bf16].append(time.perf_counter() - t0)
                print(f"repeat {r} {'bf16' if bf16 else 'float32'}: {times[bf16][-1]:.1f}s", flush=True)
    diff = np.abs(probs[True] - probs[False])
    row = {"teacher_accuracy": acc, "pool": len(pool), "float32_s": min(times[False]), "bf16_s": min(times[True]),
           "texts_per_s": {"float32": len(pool) / min(times[False]), "bf16": len(pool) / min(times[True])},
           "ratio": min(times[False]) / min(times[True]),
           "argmax_agreement": float(np.mean(probs[True].argmax(1) == probs[False].argmax(1))),
           "max_abs_prob_change": float(diff.max()), "mean_abs_prob_change": float(diff.mean())}
    print(f"\n{a.dataset} sample {a.seed}, {len(pool)} pool texts, {a.backbone} teacher, max_length {a.max_length}, "
          f"{machine()['cpu']}, native bf16: {fast}{'' if fast else ' (so both rows run float32)'}; best of "
          f"{a.repeats}\n")
    print("| float32 texts/s | bf16 texts/s | bf16 / float32 | same teacher label | largest / mean probability "
          "change |")
    print("|---:|---:|---:|---:|---|")
    print(f"| {row['texts_per_s']['float32']:.1f} | {row['texts_per_s']['bf16']:.1f} | {row['ratio']:.2f}x | "
          f"{row['argmax_agreement']:.2%} | {row['max_abs_prob_change']:.4f} / {row['mean_abs_prob_change']:.5f} |")
    save_results(RESULTS / f"teacher_pass-{'gpu' if torch.cuda.is_available() else 'cpu'}.json",
                 {"args": vars(a), "machine": machine(), "native_bf16": fast, "result": row})


if __name__ == "__main__":
    main()
