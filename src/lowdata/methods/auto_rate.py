"""How fast this machine trains a backbone: `lowdata auto`'s first guess at a tuned cell's time, measured.

    from lowdata.methods.auto_rate import seconds_per_example
    rate = seconds_per_example(cfg, train.texts)   # seconds per training example on cfg.model.name, here and now

auto prices a tuned cell as (examples through the encoder) x (seconds per example on its backbone), learnt from the
backbone's finished tuned cells. Before any has run, that rate was a table of 2-core float32 CPU times (MiniLM 0.05,
e5-small 0.18, mpnet 0.4 s) until session 35. It was wrong wherever the hardware differs: on a 2-core CPU with
AVX512-BF16 (training under bf16 autocast) the cells then ran at MiniLM 0.008-0.012 and mpnet 0.03-0.06 s an example,
and on a GPU it is ~100x off, so a short budget dropped tuned candidates that fit (`make demo`: every one). Now it is
measured once per backbone and run: a few optimizer steps of the training loop's own kind (its optimizer, its
autocast, a batch of train.batch_size of the run's own texts padded to their longest, at model.max_length), the
first step not counted (kernel warm-up: 2-4x the later ones on CPU), the fastest of the rest per example.

It measures the steps only, not a cell's loading, tokenizing, evaluation or the pool's encoding: on that CPU it
came within the learnt rates (MiniLM 0.011 s, mpnet 0.047 s; session 35), on a GPU, where the steps are cheap, a
cell's fixed costs dominate and the guess is low. So a candidate priced by it alone still waits for a measured rate
when it does not fit (auto.py), and the first finished tuned cell replaces it. The torch RNG is left as it was.
"""
from __future__ import annotations

import time


def seconds_per_example(cfg, texts: list, *, steps: int = 2, seed: int = 0) -> float:
    """Seconds per training example (forward, backward, optimizer step) of cfg.model.name with cfg's train settings,
    on a seeded batch of `texts`; see the module docstring."""
    from contextlib import nullcontext

    import numpy as np
    import torch

    from ..backbone import TaskModel, load_encoder
    from ..loop import accelerator, loss_fn, optimizer, train_autocast

    if not texts:
        raise ValueError("seconds_per_example needs at least one text")
    tc = cfg.train
    acc = accelerator(tc)
    enc, tok = load_encoder(cfg.model.name)
    pick = np.random.default_rng(seed).permutation(len(texts))[:max(1, min(tc.batch_size, len(texts)))]
    batch = tok([texts[i] for i in pick], truncation=True, max_length=cfg.model.max_length, padding=True,
                return_tensors="pt").to(acc.device)
    batch["labels"] = torch.zeros(len(pick), dtype=torch.long, device=acc.device)
    cast = train_autocast(tc, acc.device) or nullcontext
    with torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))):  # dropout draws: not the run's
        model = TaskModel(enc, 2, "classify", cfg.model.pooling, cfg.model.dropout).to(acc.device)
        model.train()
        opt = optimizer(model, tc, acc.device.type)
        times = []
        for _ in range(steps + 1):
            t0 = time.perf_counter()
            with cast():
                loss = loss_fn(model, batch)  # the loop's cross-entropy
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if acc.device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    return min(times[1:]) / len(pick)
