"""THE training loop (`fit`): one explicit loop that knows no method.

    from lowdata.loop import fit
    raw, state = fit(tc, out, model, enc, acc, pad=pad, loss=loss_fn, evaluate=score, ssl=ssl_obj)

Length-bucketed batches with dynamic padding, AdamW (fused where available), linear warmup and decay,
gradient clipping, early stopping on dev, best-checkpoint restore, bf16 autocast where the hardware runs it fast
(a GPU, a CPU with AVX512-BF16 / AMX), `accelerate` for device placement. Resumable: a checkpoint (model, optimizer,
scheduler, RNG, position in the epoch) is written atomically every `save_every` steps and at each epoch end;
`resume=True` continues from it (loaded with torch's weights_only unpickler: a crafted checkpoint cannot run code),
and on CPU ends with the same metrics as an uninterrupted run.

Extension points are arguments, not hooks:
  make_batch(indices, step) -> batch       default: collate(enc, indices, pad)
  loss(model, batch) -> scalar             default: cross-entropy on batch["labels"] (loss_fn; loss_for(tc) picks L_q)
  evaluate(model) -> dev score             higher is better: early stopping and best-checkpoint restore
  ssl.loss(model, batch, unlabeled_batch, step) -> (loss, logs)   added to the supervised loss; `ssl.mu` sets the
                                           unlabeled batch size multiple (default 1); `ssl.includes_supervised`
                                           means its loss already holds the supervised term
  adversarial.step(model, batch, loss_fn, backward) -> logs      after the main backward, before clipping
                                           (FGM/PGD/FreeLB: lowdata.robust.adversarial)
It imports only batching, dropout, hardware, logging and run-directory helpers; the methods that call it live in
lowdata.methods.
"""
from __future__ import annotations

import math
import os

import numpy as np
import torch
import torch.nn.functional as F

from .batching import IGNORE, bucket_batches, collate, lengths
from .dropout import cpu_dropout
from .errors import ConfigError
from .loggers import Loggers
from .runs import load_checkpoint


def loss_fn(model, batch):
    logits = model(batch["input_ids"], batch["attention_mask"])  # (B, C) or (B, T, C)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), batch["labels"].reshape(-1),
                           ignore_index=IGNORE)


def gce_loss(logits: torch.Tensor, labels: torch.Tensor, q: float = 0.7) -> torch.Tensor:
    """Generalized cross-entropy L_q = (1 - p_y^q) / q (Zhang & Sabuncu, NeurIPS 2018, "Generalized Cross Entropy
    Loss for Training Deep Neural Networks with Noisy Labels"), mean over positions whose label is not IGNORE.
    Its gradient is cross-entropy's scaled by p_y^q, so examples the model finds unlikely (often the wrongly labeled
    ones) pull less; q -> 0 gives cross-entropy, q = 1 the mean absolute error. Deviation: the paper's truncated
    variant (L_q clipped below a probability k, with periodic pruning) is not implemented."""
    if not 0 < q <= 1:
        raise ValueError(f"q must be in (0, 1], got {q}")
    logits, labels = logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1)
    keep = labels != IGNORE
    logp = -F.cross_entropy(logits, labels, ignore_index=IGNORE, reduction="none")[keep]  # log p_y
    return ((1 - torch.exp(q * logp)) / q).mean() if keep.any() else logits.sum() * 0


def loss_for(tc):
    """The supervised loss the config asks for: cross-entropy, or L_q with train.gce_q."""
    if tc.gce_q is None:
        return loss_fn
    if not 0 < tc.gce_q <= 1:
        raise ConfigError(f"train.gce_q must be in (0, 1], got {tc.gce_q}")
    return lambda model, batch: gce_loss(model(batch["input_ids"], batch["attention_mask"]), batch["labels"],
                                         tc.gce_q)


def optimizer(model, tc, device_type: str):
    """The loop's AdamW: weight decay on matrices, not on biases and norms; the head at train.head_lr."""
    decay, no_decay, head = [], [], []
    for n, p in model.named_parameters():
        (head if n.startswith("head.") else no_decay if p.ndim < 2 else decay).append(p)
    groups = [{"params": decay, "weight_decay": tc.weight_decay}, {"params": no_decay, "weight_decay": 0.0},
              {"params": head, "weight_decay": tc.weight_decay, "lr": tc.head_lr or tc.lr}]
    try:  # fused AdamW: one kernel per step (CUDA, and CPU in recent torch)
        return torch.optim.AdamW(groups, lr=tc.lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(groups, lr=tc.lr, foreach=device_type != "cpu")


def _save_atomic(obj, path: str) -> None:
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def accelerator(tc):
    """The device placement every training run uses: the GPU when there is one, else the CPU (also with train.cpu).
    Precision is not accelerate's: its state is one per process, so runs with and without bf16 could not share a
    process (auto's candidates, tests); `train_autocast` gives the loop its autocast instead."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    cpu = tc.cpu or not torch.cuda.is_available()
    try:
        return Accelerator(cpu=cpu, mixed_precision="no")
    except ValueError:  # the process's accelerate state was set with other settings (a Trainer with bf16=True ran
        AcceleratorState._reset_state(reset_partial_state=True)  # here before): start it afresh, as accelerate's
        return Accelerator(cpu=cpu, mixed_precision="no")        # own error message suggests


def train_autocast(tc, device):
    """With train.bf16 (the default): a factory of bf16 autocast contexts (float32 master weights, as accelerate's
    bf16) where bf16 is the hardware's fast path (hardware.bf16_fast: a GPU with bf16, a CPU with AVX512-BF16 or
    AMX), else None: float32."""
    from .hardware import bf16_fast

    dev = torch.device(device).type
    if not (tc.bf16 and bf16_fast(dev)):
        return None
    return lambda: torch.autocast(dev, dtype=torch.bfloat16)


def planned_steps(tc, n: int) -> int:
    """Optimizer steps a run of n training examples is set to make: train.max_steps, else epochs x batches."""
    return tc.max_steps or tc.epochs * math.ceil(n / tc.batch_size)


def fit(tc, out: str, model, enc, acc, *, pad: int = 0, lens=None, make_batch=None, loss=None, evaluate=None,
        metric: str = "score", ssl=None, enc_u=None, adversarial=None, resume: bool = False,
        log_config: dict | None = None):
    """The loop itself, shared by every method that trains (lowdata.methods) and `lowdata.pretrain` (MLM/NSP).

    make_batch(indices, step) -> dict of CPU tensors (default: `collate(enc, indices, pad)`); loss(model, batch) ->
    scalar (default: cross-entropy on `labels`); evaluate(model) -> dev score, higher is better (early stopping and
    best-checkpoint restore). Returns (unwrapped model with the best weights, loop state)."""
    from contextlib import nullcontext

    from tqdm.auto import tqdm

    ckdir = os.path.join(out, "checkpoint")
    cast = train_autocast(tc, acc.device) or nullcontext
    make_batch = make_batch or (lambda idx, step: collate(enc, idx, pad))
    loss_of = loss or loss_fn
    opt = optimizer(model, tc, acc.device.type)
    lens = lengths(enc) if lens is None else lens
    per_epoch = math.ceil(len(lens) / tc.batch_size)
    total = planned_steps(tc, len(lens))
    from transformers import get_linear_schedule_with_warmup
    sched = get_linear_schedule_with_warmup(opt, int(tc.warmup_ratio * total), total)
    model, opt = acc.prepare(model, opt)
    raw = acc.unwrap_model(model)
    state = {"step": 0, "epoch": 0, "pos": 0, "best": -math.inf, "best_step": 0, "bad": 0, "history": [],
             "done": False}
    best_state = None
    ck = os.path.join(ckdir, "state.pt")
    if resume and os.path.exists(ck):
        saved = load_checkpoint(ck)  # weights_only: a crafted state.pt cannot run code
        raw.load_state_dict(saved["model"])
        fresh = list(sched.base_lrs)  # this config's learning rates
        opt.load_state_dict(saved["opt"])
        sched.load_state_dict(saved["sched"])
        if sched.base_lrs != fresh:  # resumed with a new train.lr / head_lr (--allow-config-change): it applies from
            # here on, on the schedule's curve at this step (the saved state would silently keep the old one)
            sched.base_lrs = fresh
            for g, base, lam in zip(opt.param_groups, fresh, sched.lr_lambdas):
                g["initial_lr"], g["lr"] = base, base * lam(sched.last_epoch)
            sched._last_lr = [g["lr"] for g in opt.param_groups]
        torch.set_rng_state(saved["rng"])
        if saved.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(saved["cuda_rng"])
        state = saved["state"]
        if os.path.exists(os.path.join(ckdir, "best.pt")):
            best_state = load_checkpoint(os.path.join(ckdir, "best.pt"))
        acc.print(f"resumed from step {state['step']} (epoch {state['epoch']}, batch {state['pos']})")

    def checkpoint():
        _save_atomic({"model": raw.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                      "rng": torch.get_rng_state(), "state": state,
                      "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}, ck)

    def dev_eval():
        nonlocal best_state
        score = evaluate(raw)
        state["history"].append({"step": state["step"], f"dev_{metric}": score})
        logger.log({f"dev/{metric}": score}, state["step"])
        if score > state["best"]:
            state.update(best=score, best_step=state["step"], bad=0)
            best_state = {k: v.detach().cpu().clone() for k, v in raw.state_dict().items()}
            if tc.save_every:
                _save_atomic(best_state, os.path.join(ckdir, "best.pt"))
        else:
            state["bad"] += 1
        model.train()
        return tc.patience > 0 and state["bad"] >= tc.patience

    logger = Loggers(out, tc.report_to, log_config or {})
    bar = tqdm(total=total, initial=state["step"], disable=not tc.progress, desc="train", dynamic_ncols=True)
    mu, uses_u = getattr(ssl, "mu", 1), enc_u is not None
    kill_at = int(os.environ.get("LOWDATA_TEST_KILL_AT_STEP", "0"))  # fault injection for the resume test
    fast = cpu_dropout(raw, acc.device.type) if tc.fast_dropout else nullcontext()
    with fast:  # numpy-drawn dropout masks on CPU (lowdata.dropout); put back on exit (state dicts never change)
        model.train()
        while not state["done"] and (tc.max_steps or state["epoch"] < tc.epochs):
            batches = bucket_batches(lens, tc.batch_size, tc.seed, state["epoch"])
            batches = batches[acc.process_index::acc.num_processes]
            while state["pos"] < len(batches):
                b = {k: v.to(acc.device) for k, v in make_batch(batches[state["pos"]], state["step"]).items()}
                with cast():
                    # an ssl object with includes_supervised=True computes the supervised term itself (e.g. UDA's TSA)
                    own = ssl is not None and getattr(ssl, "includes_supervised", False)
                    loss = torch.zeros((), device=acc.device) if own else loss_of(model, b)
                    logs = {}
                    if ssl is not None:  # unlabeled batch chosen from the step, so a resume sees the same one
                        ub = _unlabeled_batch(enc_u, tc.batch_size * mu, tc.seed, state["step"], pad,
                                              acc.device) if uses_u else None
                        l_u, ulogs = ssl.loss(model, b, ub, state["step"])
                        loss = loss + l_u
                        logs.update(ulogs)
                    logs["train/loss"] = loss.item()
                if not math.isfinite(logs["train/loss"]):  # NaN weights ahead: a model that predicts nothing
                    from .errors import DivergedError

                    raise DivergedError(f"{out}: the training loss is {logs['train/loss']} at step {state['step'] + 1} "
                                        f"(lr {sched.get_last_lr()[0]:.3g}): the run diverged; lower train.lr (now "
                                        f"{tc.lr:g}) and start it again (--overwrite)")
                acc.backward(loss)
                if adversarial is not None:  # its extra forwards under the same autocast as the clean one
                    logs.update(adversarial.step(model, b, lambda m, bb: _autocast(cast, loss_of, m, bb), acc.backward))
                if tc.max_grad_norm:
                    acc.clip_grad_norm_(model.parameters(), tc.max_grad_norm)
                opt.step()
                sched.step()
                opt.zero_grad(set_to_none=True)
                state["step"] += 1
                state["pos"] += 1
                bar.update(1)
                bar.set_postfix(loss=f"{logs['train/loss']:.4f}")
                logger.log({**logs, "train/lr": sched.get_last_lr()[0]}, state["step"])
                if kill_at and state["step"] == kill_at:
                    os.kill(os.getpid(), 9)
                stop = False
                if evaluate is not None and tc.eval_every and state["step"] % tc.eval_every == 0:
                    stop = dev_eval()
                if tc.save_every and state["step"] % tc.save_every == 0:
                    checkpoint()
                if stop or state["step"] >= total:
                    state["done"] = True
                    break
            if not state["done"]:
                state["epoch"] += 1
                state["pos"] = 0
                if evaluate is not None and not tc.eval_every and dev_eval():
                    state["done"] = True
                if tc.save_every:  # save_every=0: no resumable checkpoints (benchmarks)
                    checkpoint()
    bar.close()
    if evaluate is not None and (not state["history"] or state["history"][-1]["step"] != state["step"]):
        dev_eval()
    if best_state is not None:  # best-checkpoint restore
        raw.load_state_dict(best_state)
    if tc.save_every:
        checkpoint()
    logger.close()
    return raw, state


def _autocast(cast, loss_of, model, batch):
    with cast():
        return loss_of(model, batch)


def _unlabeled_batch(enc_u, size: int, seed: int, step: int, pad: int, device) -> dict:
    n = len(enc_u)
    per = max(1, n // size)
    perm = np.random.default_rng([seed, 7919, step // per]).permutation(n)
    idx = perm[(step % per) * size: (step % per) * size + size]
    return {k: v.to(device) for k, v in collate(enc_u, idx, pad).items()}
