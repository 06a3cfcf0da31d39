"""Wall-clock per training step: FixMatch (and UDA) vs supervised, same model, data, batch size, CPU or GPU.

    python bench/ssl_step_time.py            # SST-2, 16 labeled per class + the unlabeled rest, MiniLM, 40 - 10 steps

Timed: the loop only (`lowdata.loop.fit`, as called by lowdata.methods.finetune), no dev or test evaluation, at
--steps and at --steps-low steps (each best
of `--repeats`); seconds per step = the difference / the extra steps, so fixed costs of the loop cancel out.
A FixMatch step runs the labeled batch plus, for mu x batch unlabeled texts, a weak-view forward pass (no
gradient) and a strong-view forward and backward pass, and re-tokenizes both augmented views.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, data_config, machine, save_results  # noqa: E402


def step_time(method, splits, a):
    """Seconds per step: the loop timed at --steps and at --steps-low, differenced, so the loop's fixed costs
    (optimizer set-up, the final checkpoint write) cancel out."""
    hi = min(loop_time(method, splits, a, a.steps) for _ in range(a.repeats))
    lo = min(loop_time(method, splits, a, a.steps_low) for _ in range(a.repeats))
    return (hi - lo) / (a.steps - a.steps_low)


def loop_time(method, splits, a, steps):
    import lowdata.methods.finetune as T  # the module whose `fit` a fine-tuning run calls
    from lowdata.config import Config, ModelConfig, SSLConfig, TrainConfig

    spent = {}
    real_fit = T.fit

    def timed_fit(*args, **kw):
        t0 = time.perf_counter()
        out = real_fit(*args, **kw)
        spent["s"] = time.perf_counter() - t0
        return out

    T.fit = timed_fit
    try:
        with tempfile.TemporaryDirectory() as out:
            cfg = Config(model=ModelConfig(name=a.model, max_length=a.max_length),
                         train=TrainConfig(max_steps=steps, batch_size=a.batch_size, progress=False, report_to=[],
                                           save_every=0, patience=0),
                         ssl=SSLConfig(method=None if method == "supervised" else method, mu=a.mu), output_dir=out)
            T.run(cfg, {**splits, "dev": None, "test": None})
    finally:
        T.fit = real_fit
    return spent["s"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--steps-low", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--mu", type=int, default=2)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--methods", nargs="+", default=["supervised", "fixmatch", "uda"])
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()

    from lowdata.data.splits import load_splits

    splits = load_splits(data_config("sst2", k_per_class=16, sample_seed=0), seed=0)
    res = {m: min(step_time(m, splits, a) for _ in range(a.repeats)) for m in a.methods}
    import torch

    dev = "gpu" if torch.cuda.is_available() else "cpu"
    print(f"\nSST-2, 16 labeled per class, {a.model}, batch {a.batch_size}, mu {a.mu}, "
          f"{a.steps} - {a.steps_low} steps, {dev}\n")
    print("| method | seconds / step | vs supervised |\n|---|---:|---:|")
    for m, s in res.items():
        print(f"| {m} | {s:.3f} | {s / res['supervised']:.2f}x |")
    save_results(RESULTS / f"ssl_step_time-{dev}.json", {"args": vars(a), "machine": machine(), "seconds_per_step": res})


if __name__ == "__main__":
    main()
