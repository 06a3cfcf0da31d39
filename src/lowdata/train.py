"""THE training loop: one explicit loop for sequence classification and NER.

    from lowdata.config import load_config
    from lowdata.train import run
    metrics = run(load_config("configs/sst2-16shot.yaml"))          # writes runs/... (see below)

Length-bucketed batches with dynamic padding, AdamW (fused where available), linear warmup and decay,
gradient clipping, early stopping on dev, best-checkpoint restore, bf16 autocast on GPU, `accelerate` for
device placement. Resumable: a checkpoint (model, optimizer, scheduler, RNG, position in the epoch) is written
atomically every `save_every` steps and at each epoch end; `resume=True` continues from it, and on CPU ends with
the same metrics as an uninterrupted run.

Extension points are arguments, not hooks:
  augment(texts) -> list[list[str]]        extra labeled copies of each training text (label kept)
  ssl.loss(model, batch, unlabeled_batch, step) -> (loss, logs)   added to the supervised loss; `ssl.mu` sets the
                                           unlabeled batch size multiple (default 1); `ssl.includes_supervised`
                                           means its loss already holds the supervised term
  adversarial.step(model, batch, loss_fn, backward) -> logs      after the main backward, before clipping
                                           (FGM/PGD/FreeLB: lowdata.robust.adversarial, `adversarial:` config)

Output dir: config.yaml, metrics.json, report.md, predictions.jsonl, confusion.png (classification),
model/ (Hugging Face encoder + head), checkpoint/ (resume state), tb/ (TensorBoard).
"""
from __future__ import annotations

import math
import os
import shutil

import numpy as np
import torch
import torch.nn.functional as F

from .batching import IGNORE, bucket_batches, collate, encode, encode_windows, lengths, predict_logits, stitch
from .config import Config, ConfigError, to_dict, validate
from .errors import RunExistsError  # noqa: F401  (re-exported)
from .loggers import Loggers
from .probe import linear_probe_init  # noqa: F401  (part of the loop's API)


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


def _loss_for(tc):
    """The supervised loss the config asks for: cross-entropy, or L_q with train.gce_q."""
    if tc.gce_q is None:
        return loss_fn
    if not 0 < tc.gce_q <= 1:
        raise ConfigError(f"train.gce_q must be in (0, 1], got {tc.gce_q}")
    return lambda model, batch: gce_loss(model(batch["input_ids"], batch["attention_mask"]), batch["labels"],
                                         tc.gce_q)


def _optimizer(model, tc, device_type: str):
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


def prepare_output(cfg, out: str, resume: bool, overwrite: bool, allow_changes: bool = False, inputs=()):
    """Start a run in `out` (lowdata.runs: policy, lock, config.yaml) -> the RunDir (its .checkpoint folder).
    Call it once the inputs are read and the model loads: nothing is written to `out` before."""
    from . import runs

    return runs.start(out, cfg, resume=resume, overwrite=overwrite, allow_changes=allow_changes, inputs=inputs)


def data_inputs(cfg) -> list:
    """The files a train config reads (never written over by the run)."""
    d = cfg.data
    return [p for p in (d.train, d.dev, d.test, d.unlabeled) if isinstance(p, str)]


def run(cfg: Config, splits: dict | None = None, *, augment=None, ssl=None, adversarial=None,
        resume: bool = False, overwrite: bool = False, allow_changes: bool = False) -> dict:
    """Train per `cfg` on `splits` (default: load them from cfg.data), evaluate, write the run directory.
    Everything is read, checked and loaded before the output directory is touched (lowdata.runs)."""
    from accelerate import Accelerator

    from .backbone import TaskModel, load_encoder
    from .data import LabelMap, TextData
    from .data.splits import load_splits
    from . import runs

    validate(cfg)
    if cfg.ssl.method in ("frozen_lr", "label_spreading", "gcn"):  # frozen encoder: no loop (ssl/embedding.py)
        from .ssl.embedding import run_embedding

        return run_embedding(cfg, splits, overwrite=overwrite)
    tc, out = cfg.train, cfg.output_dir
    sup_loss = _loss_for(tc)
    runs.check(out, cfg, resume=resume, overwrite=overwrite, allow_changes=allow_changes, inputs=data_inputs(cfg))

    torch.manual_seed(tc.seed)
    splits = splits or load_splits(cfg.data, seed=tc.seed)
    train, dev = splits["train"], splits.get("dev")
    labels = LabelMap.from_data(train)
    for name in ("dev", "test"):
        if splits.get(name) is not None:
            labels.check(splits[name], name)
    acc = Accelerator(cpu=tc.cpu or not torch.cuda.is_available(),
                      mixed_precision="bf16" if tc.bf16 and torch.cuda.is_available() else "no")
    encoder, tok = load_encoder(cfg.model.name)
    model = TaskModel(encoder, len(labels), train.task, cfg.model.pooling, cfg.model.dropout)
    pad = tok.pad_token_id
    augment, ssl = _from_config(cfg, tok, augment, ssl)
    if tc.gce_q is not None and getattr(ssl, "includes_supervised", False):
        raise ConfigError(f"train.gce_q: ssl.method={cfg.ssl.method} computes its own supervised term (UDA's TSA, "
                          f"GAN-BERT's discriminator), which the loss setting would not reach; unset one of them")
    if adversarial is None and cfg.adversarial.method:
        from .robust.adversarial import build_adversarial
        from .registry import RegistryError

        try:
            adversarial = build_adversarial(cfg.adversarial)
        except RegistryError as e:
            raise ConfigError(f"adversarial.method: {e}") from None
    enc = encode(train, tok, labels, cfg.model.max_length)
    if augment is not None:  # each augmented copy keeps its source's label
        if train.task != "classify":
            raise ConfigError("augment takes texts; for NER run a tag-aware augmenter (lowdata augment --task ner) "
                              "on the data beforehand")
        for ex, views in zip(list(enc), augment(train.texts)):
            views = [v for v in views if v.strip()]
            if views:
                enc += [{**e, "label": ex["label"]} for e in encode(TextData(views), tok, None, cfg.model.max_length,
                                                                        warn=False)]
    enc_dev = None  # NER dev sentences past max_length are scored over whole-word windows, as at test time
    if dev is not None:
        enc_dev = encode(dev, tok, labels, cfg.model.max_length) if dev.task == "classify" else \
            encode_windows(dev, tok, labels, cfg.model.max_length)
    uses_u = ssl is not None and getattr(ssl, "uses_unlabeled", True)
    if uses_u and not splits.get("unlabeled"):
        raise ConfigError("this ssl method needs unlabeled data: set data.unlabeled (a file) or data.k_per_class "
                          "(the rest of train is then unlabeled)")
    enc_u = None
    if uses_u:  # hidden labels (benchmarks) ride along only so ssl methods can log pseudo-label accuracy
        u, truth = splits["unlabeled"], splits.get("unlabeled_truth")
        known = truth is not None and train.task == "classify" and all(t in labels.index for t in truth)
        enc_u = encode(TextData(u.texts, truth) if known else u, tok, labels if known else None, cfg.model.max_length)
        for e in enc_u:  # under another key than "labels": an ssl method cannot train on them by accident
            if "label" in e:
                e["hidden_label"] = e.pop("label")
    if (tc.lp_init or cfg.contrastive.pairs) and train.task != "classify":
        raise ConfigError("train.lp_init and contrastive.pairs are for classification")
    run_dir = prepare_output(cfg, out, resume, overwrite, allow_changes, data_inputs(cfg))
    try:
        return _train(cfg, run_dir, splits, labels, model, tok, enc, enc_dev, enc_u, acc, sup_loss, ssl,
                      adversarial, resume)
    finally:
        run_dir.close()


def _train(cfg, run_dir, splits, labels, model, tok, enc, enc_dev, enc_u, acc, sup_loss, ssl, adversarial,
           resume) -> dict:
    """The part of `run` after the output directory is started: the contrastive / LP stages, the loop, outputs."""
    from .evaluate.report import write_outputs

    tc, out, ckdir = cfg.train, cfg.output_dir, run_dir.checkpoint
    train, dev, pad = splits["train"], splits.get("dev"), tok.pad_token_id
    fresh = not (resume and os.path.exists(os.path.join(ckdir, "state.pt")))
    if cfg.contrastive.pairs and fresh:  # SetFit: tune the encoder on pairs, then the head by logistic regression
        from .contrastive import contrastive_stage

        contrastive_stage(model, enc, pad, cfg.contrastive, tc, acc, out)
    if (tc.lp_init or cfg.contrastive.pairs) and fresh:
        linear_probe_init(model, enc, pad, tc.eval_batch_size)
    autocast = acc.autocast if acc.mixed_precision == "bf16" else None
    metric = "accuracy" if train.task == "classify" else "f1"
    score = None if enc_dev is None else \
        (lambda m: dev_score(m, enc_dev, dev, labels, pad, tc.eval_batch_size, acc.device, autocast))
    raw, state = fit(tc, out, model, enc, acc, pad=pad, loss=sup_loss, evaluate=score, metric=metric, ssl=ssl,
                     enc_u=enc_u, adversarial=adversarial, resume=resume, log_config=to_dict(cfg))
    raw.save(os.path.join(out, "model"), tok, labels.names, cfg.model.max_length)  # atomically (runs.replace_dir)
    result = write_outputs(raw, tok, splits, labels, cfg, state, acc.device, autocast)
    shutil.rmtree(ckdir, ignore_errors=True)
    return result


def fit(tc, out: str, model, enc, acc, *, pad: int = 0, lens=None, make_batch=None, loss=None, evaluate=None,
        metric: str = "score", ssl=None, enc_u=None, adversarial=None, resume: bool = False,
        log_config: dict | None = None):
    """The loop itself, shared by `run` (classification, NER) and `lowdata.pretrain` (MLM/NSP).

    make_batch(indices, step) -> dict of CPU tensors (default: `collate(enc, indices, pad)`); loss(model, batch) ->
    scalar (default: cross-entropy on `labels`); evaluate(model) -> dev score, higher is better (early stopping and
    best-checkpoint restore). Returns (unwrapped model with the best weights, loop state)."""
    from tqdm.auto import tqdm

    ckdir = os.path.join(out, "checkpoint")
    make_batch = make_batch or (lambda idx, step: collate(enc, idx, pad))
    loss_of = loss or loss_fn
    opt = _optimizer(model, tc, acc.device.type)
    lens = lengths(enc) if lens is None else lens
    per_epoch = math.ceil(len(lens) / tc.batch_size)
    total = tc.max_steps or tc.epochs * per_epoch
    from transformers import get_linear_schedule_with_warmup
    sched = get_linear_schedule_with_warmup(opt, int(tc.warmup_ratio * total), total)
    model, opt = acc.prepare(model, opt)
    raw = acc.unwrap_model(model)
    state = {"step": 0, "epoch": 0, "pos": 0, "best": -math.inf, "best_step": 0, "bad": 0, "history": [],
             "done": False}
    best_state = None
    ck = os.path.join(ckdir, "state.pt")
    if resume and os.path.exists(ck):
        from .runs import load_checkpoint

        saved = load_checkpoint(ck)  # weights_only: a crafted state.pt cannot run code
        raw.load_state_dict(saved["model"])
        opt.load_state_dict(saved["opt"])
        sched.load_state_dict(saved["sched"])
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
    model.train()
    while not state["done"] and (tc.max_steps or state["epoch"] < tc.epochs):
        batches = bucket_batches(lens, tc.batch_size, tc.seed, state["epoch"])
        batches = batches[acc.process_index::acc.num_processes]
        while state["pos"] < len(batches):
            b = {k: v.to(acc.device) for k, v in make_batch(batches[state["pos"]], state["step"]).items()}
            with acc.autocast():
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
            acc.backward(loss)
            if adversarial is not None:  # its extra forwards under the same autocast as the clean one
                logs.update(adversarial.step(model, b, lambda m, bb: _autocast(acc, loss_of, m, bb), acc.backward))
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


def _from_config(cfg, tok, augment, ssl):
    """The config's augment and ssl sections -> (augment function, ssl/multi-view object), unless given."""
    from .augment import build

    ac = cfg.augment
    seed = cfg.train.seed if ac.seed is None else ac.seed
    if augment is None and ac.specs:
        augs = [build(s, seed=seed) for s in ac.specs]

        def augment(texts):
            outs = [a(texts) for a in augs]
            return [[v for o in outs for v in o[i]] for i in range(len(texts))]
    if ssl is None and cfg.ssl.method:
        from .ssl import build_ssl

        ssl = build_ssl(cfg.ssl, tok, cfg)
    if ssl is None and ac.multiview:
        from .augment.multiview import MultiView

        ssl = MultiView(tok, build(ac.multiview, seed=seed), ac.multiview_weight, max_length=cfg.model.max_length)
    return augment, ssl


def _autocast(acc, loss_of, model, batch):
    with acc.autocast():
        return loss_of(model, batch)


def _unlabeled_batch(enc_u, size: int, seed: int, step: int, pad: int, device) -> dict:
    n = len(enc_u)
    per = max(1, n // size)
    perm = np.random.default_rng([seed, 7919, step // per]).permutation(n)
    idx = perm[(step % per) * size: (step % per) * size + size]
    return {k: v.to(device) for k, v in collate(enc_u, idx, pad).items()}


def dev_score(model, enc_dev, dev, labels, pad, batch_size, device, autocast) -> float:
    from .evaluate import classification_report, ner_report

    if dev.task == "classify":
        logits = predict_logits(model, enc_dev, pad, batch_size, device, autocast)
        pred = logits.argmax(-1).tolist()
        return classification_report(dev.labels, [labels.names[p] for p in pred], labels.names)["accuracy"]
    windows, spans = enc_dev  # encode_windows
    logits = stitch(predict_logits(model, windows, pad, batch_size, device, autocast), spans)
    pred = [[labels.names[i] for i in row.argmax(-1).tolist()] for row in logits]
    return ner_report(dev.tags, pred)["f1"]
