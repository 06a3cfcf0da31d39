"""How fast this machine trains a backbone: `lowdata auto`'s first guess at a tuned cell's time, measured.

    from lowdata.methods.auto_rate import seconds_per_example
    rate = seconds_per_example(cfg, train.texts)   # seconds per training example on cfg.model.name, here and now

auto prices a tuned cell as (examples through the encoder) x (seconds per example on its backbone), learnt from the
backbone's finished tuned cells. Before any has run, that rate was a table of 2-core float32 CPU times (MiniLM 0.05,
e5-small 0.18, mpnet 0.4 s) until session 35. It was wrong wherever the hardware differs: on a 2-core CPU with
AVX512-BF16 (training under bf16 autocast) the cells then ran at MiniLM 0.008-0.012 and mpnet 0.03-0.06 s an example,
and on a GPU it is ~100x off, so a short budget dropped tuned candidates that fit (`make demo`: every one). Now it is
measured once per backbone and run: a few optimizer steps of the training loop's own kind (its optimizer, its
autocast, a batch of train.batch_size of the run's own texts at model.max_length), the first step not counted
(kernel warm-up: 2-4x the later ones on CPU), the fastest of the rest per example. The batch is the run's
median-length texts (of a seeded sample of 512), padded to their longest, as the loop's length-bucketed batches
are: until session 41 it was a random batch padded to its longest, ~1.8x the cost of the batches the loop trains on
where lengths vary (TREC on mpnet, 13 tokens on average, 34 at most: 0.055 against 0.030 s an example, for either
kind below). SetFit's contrastive steps are measured apart (pairs=True: contrastive.batch_size pairs, the cosine
loss, seconds per text of a pair), and auto prices SetFit candidates by them and their own cells, not by the
fine-tuning cells' learnt rate as such: an example costs the same in either kind's steps, but a fine-tuning cell's
fixed costs (loading, evaluation) weigh on 4x fewer examples (TREC's 72-label folds on mpnet, session 41:
fine-tuning cells 0.048 s an example, SetFit-style's 0.039); the fine-tuning cells only scale the pair steps' rate
by how far their learnt rate is from the measured steps' (a GPU's fixed costs). On the random batch SetFit-style
on TREC's 96 labels on mpnet was priced at ~290 s a fold (it takes ~230 s; the new measurement says ~200), which
with the final training's reserve did not fit a 30-minute budget, and it was never tried, though it is the best
recipe there.

It measures the steps only, not a cell's loading, tokenizing, evaluation or the pool's encoding: on that CPU it
came within the learnt rates (MiniLM 0.011 s, mpnet 0.047 s; session 35), on a GPU, where the steps are cheap, a
cell's fixed costs dominate and the guess is low. So a candidate priced by it alone still waits for a measured rate
when it does not fit (auto.py), and the first finished tuned cell replaces it. The torch RNG is left as it was.
"""
from __future__ import annotations

import time


def seconds_per_example(cfg, texts: list, *, steps: int = 2, seed: int = 0, pairs: bool = False) -> float:
    """Seconds per training example (forward, backward, optimizer step) of cfg.model.name with cfg's train settings,
    on a seeded batch of `texts`; pairs: per text of a contrastive pair (cfg.contrastive.batch_size pairs a step,
    each text's partner another of the batch); see the module docstring."""
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
    size = max(1, min(cfg.contrastive.batch_size if pairs else tc.batch_size, len(texts)))
    sample = np.random.default_rng(seed).permutation(len(texts))[:512]
    n = [len(ids) for ids in tok([texts[i] for i in sample], truncation=True,
                                 max_length=cfg.model.max_length)["input_ids"]]
    by_length = sample[np.argsort(n, kind="stable")]
    mid = max(0, min(len(by_length) - size, len(by_length) // 2 - size // 2))
    pick = by_length[mid: mid + size]  # the median-length texts: a length-bucketed batch's padding
    batch = tok([texts[i] for i in pick], truncation=True, max_length=cfg.model.max_length, padding=True,
                return_tensors="pt").to(acc.device)
    if pairs:  # the partner of each text: the next one of the batch; half the pairs "same" (pair_loss's target)
        from ..contrastive import pair_loss

        roll = lambda t: torch.roll(t, 1, 0)  # noqa: E731
        batch = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"],
                 "input_ids_b": roll(batch["input_ids"]), "attention_mask_b": roll(batch["attention_mask"]),
                 "target": (torch.arange(len(pick), device=acc.device) % 2).float()}
    else:
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
                loss = pair_loss(model, batch) if pairs else loss_fn(model, batch)  # the loop's cross-entropy
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if acc.device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    return min(times[1:]) / (2 * len(pick) if pairs else len(pick))
