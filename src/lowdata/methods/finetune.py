"""Fine-tuning: the encoder and a head trained by the loop, with whatever the config adds (augmentation, in-loop
SSL losses, adversarial training, SetFit's contrastive stage, LP-FT), for classification and NER.

    from lowdata.config import load_config
    from lowdata.methods.finetune import run
    metrics = run(load_config("configs/sst2-16shot.yaml"))          # writes runs/... (see below)

Output dir: config.yaml, metrics.json, report.md, predictions.jsonl, confusion_<split>.png (classification),
model/ (Hugging Face encoder + head), checkpoint/ (resume state), tb/ (TensorBoard).
"""
from __future__ import annotations

import os
import shutil
import warnings

import torch

from .. import runs
from ..batching import encode, encode_windows, predict_logits, stitch
from ..config import Config, ConfigError, to_dict, validate
from ..evaluate.decode import choose_decode, decode as decode_tags
from ..errors import LowdataWarning
from ..loop import accelerator, fit, loss_for, planned_steps, train_autocast
from ..probe import linear_probe_init
from . import FROZEN


def prepare_output(cfg, out: str, resume: bool, overwrite: bool, allow_changes: bool = False, inputs=()):
    """Start a run in `out` (lowdata.runs: policy, lock, config.yaml) -> the RunDir (its .checkpoint folder).
    Call it once the inputs are read and the model loads: nothing is written to `out` before."""
    return runs.start(out, cfg, resume=resume, overwrite=overwrite, allow_changes=allow_changes, inputs=inputs)


def run(cfg: Config, splits: dict | None = None, *, augment=None, ssl=None, adversarial=None,
        resume: bool = False, overwrite: bool = False, allow_changes: bool = False) -> dict:
    """Train per `cfg` on `splits` (default: load them from cfg.data), evaluate, write the run directory.
    Everything is read, checked and loaded before the output directory is touched (lowdata.runs)."""
    from ..backbone import TaskModel, load_encoder
    from ..data import LabelMap, TextData
    from ..data.splits import load_splits

    validate(cfg)
    if cfg.ssl.method in FROZEN:  # no loop: lowdata.methods.frozen
        raise ConfigError(f"ssl.method={cfg.ssl.method} is the frozen-encoder method (lowdata.methods.frozen), "
                          f"not fine-tuning; run it through lowdata.methods.train")
    tc, out = cfg.train, cfg.output_dir
    sup_loss = loss_for(tc)
    runs.check(out, cfg, resume=resume, overwrite=overwrite, allow_changes=allow_changes, inputs=runs.data_inputs(cfg))

    torch.manual_seed(tc.seed)
    splits = splits or load_splits(cfg.data, seed=tc.seed)
    train, dev = splits["train"], splits.get("dev")
    labels = LabelMap.from_data(train)
    for name in ("dev", "test"):
        if splits.get(name) is not None:
            labels.check(splits[name], name)
    acc = accelerator(tc)
    encoder, tok = load_encoder(cfg.model.name)
    # SetFit as published (pairs, then a logistic head, no fine-tuning): the head sees L2-normalised vectors, as the
    # setfit library's does through sentence-transformers' Normalize module (all-MiniLM-L6-v2, all-mpnet-base-v2)
    setfit = bool(cfg.contrastive.pairs) and not tc.epochs and not tc.max_steps and train.task == "classify"
    model = TaskModel(encoder, len(labels), train.task, cfg.model.pooling, cfg.model.dropout, normalize=setfit)
    pad = tok.pad_token_id
    augment, ssl = _from_config(cfg, tok, augment, ssl)
    if tc.gce_q is not None and getattr(ssl, "includes_supervised", False):
        raise ConfigError(f"train.gce_q: ssl.method={cfg.ssl.method} computes its own supervised term (UDA's TSA, "
                          f"GAN-BERT's discriminator), which the loss setting would not reach; unset one of them")
    if adversarial is None and cfg.adversarial.method:
        from ..registry import RegistryError
        from ..robust.adversarial import build_adversarial

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
    decode = None
    if train.task == "ner":
        _warn_few_steps(tc, len(enc), cfg.data.train)
        decode = choose_decode(cfg.model.ner_decode, labels.names, train.tags)
    enc_dev = None  # NER dev sentences past max_length are scored over whole-word windows, as at test time
    if dev is not None:
        enc_dev = encode(dev, tok, labels, cfg.model.max_length) if dev.task == "classify" else \
            encode_windows(dev, tok, None, cfg.model.max_length)  # scored on dev.tags: a tag train lacks is fine
    uses_u = ssl is not None and getattr(ssl, "uses_unlabeled", True)
    if uses_u and not splits.get("unlabeled"):
        raise ConfigError("this ssl method needs unlabeled data: set data.unlabeled (a file) or data.k_per_class "
                          "(the rest of train is then unlabeled)")
    enc_u = None
    if uses_u:  # hidden labels (benchmarks) ride along only so ssl methods can log pseudo-label accuracy
        u, truth = splits["unlabeled"], splits.get("unlabeled_truth")
        known = truth is not None and train.task == "classify" and all(t in labels.index for t in truth)
        enc_u = encode(TextData(u.texts, truth) if known else u, tok, labels if known else None, cfg.model.max_length)
        if hasattr(ssl, "prepare"):  # distill: the teacher's probabilities over the pool, once
            ssl.prepare(u.texts, enc_u, labels.names)
        for e in enc_u:  # under another key than "labels": an ssl method cannot train on them by accident
            if "label" in e:
                e["hidden_label"] = e.pop("label")
    if (tc.lp_init or cfg.contrastive.pairs) and train.task != "classify":
        raise ConfigError("train.lp_init and contrastive.pairs are for classification")
    run_dir = prepare_output(cfg, out, resume, overwrite, allow_changes, runs.data_inputs(cfg))
    try:
        return _train(cfg, run_dir, splits, labels, model, tok, enc, enc_dev, enc_u, acc, sup_loss, ssl,
                      adversarial, resume, decode)
    finally:
        run_dir.close()


# A tagger trained for fewer optimizer steps than this barely leaves all-O. Measured (bench/chinese_ner.py, e5-small,
# 135 sentences, no dev): MSRA NER entity F1 0.047 after 90 steps (10 epochs, batch 16, lr 5e-5) against 0.533 after
# 600 (batch 8, lr 1e-4); CoNLL-2003's 140-sentence runs peaked at steps 162-270 (F1 0.64). Few-sample fine-tuning
# needs more updates than a few epochs give (Mosbach et al. 2021; Zhang et al. 2021).
NER_MIN_STEPS = 300


def _warn_few_steps(tc, n: int, where) -> None:
    steps = planned_steps(tc, n)
    if steps < NER_MIN_STEPS:
        how = f"train.max_steps={steps}" if tc.max_steps else \
            f"{n} sentences x {tc.epochs} epochs at batch {tc.batch_size} = {steps} optimizer steps"
        warnings.warn(LowdataWarning(
            f"{where or 'NER training'}: {how}; a tagger trained for fewer than {NER_MIN_STEPS} steps tends to "
            f"predict only O (135 MSRA sentences: entity F1 0.05 after 90 steps, 0.53 after 600 at lr 1e-4, "
            f"batch 8): raise train.max_steps (e.g. 600) or train.epochs"), stacklevel=3)


def _train(cfg, run_dir, splits, labels, model, tok, enc, enc_dev, enc_u, acc, sup_loss, ssl, adversarial,
           resume, decode=None) -> dict:
    """The part of `run` after the output directory is started: the contrastive / LP stages, the loop, outputs.
    decode: NER, (mode, reason) from choose_decode: dev scores, test reports and the saved model use it."""
    from ..evaluate.report import write_outputs

    tc, out, ckdir = cfg.train, cfg.output_dir, run_dir.checkpoint
    train, dev, pad = splits["train"], splits.get("dev"), tok.pad_token_id
    fresh = not (resume and os.path.exists(os.path.join(ckdir, "state.pt")))
    if cfg.contrastive.pairs and fresh:  # SetFit: tune the encoder on pairs, then the head by logistic regression
        from ..contrastive import contrastive_stage

        contrastive_stage(model, enc, pad, cfg.contrastive, tc, acc, out)
    if (tc.lp_init or cfg.contrastive.pairs) and fresh:
        linear_probe_init(model, enc, pad, tc.eval_batch_size)
    # evaluation under bf16 on a GPU; on a CPU in float32, as `lowdata predict` and pipeline() run the saved model
    autocast = train_autocast(tc, acc.device) if acc.device.type != "cpu" else None
    metric = "accuracy" if train.task == "classify" else "f1"
    score = None if enc_dev is None else \
        (lambda m: dev_score(m, enc_dev, dev, labels, pad, tc.eval_batch_size, acc.device, autocast,
                             cfg.model.max_length, decode[0] if decode else "argmax"))
    raw, state = fit(tc, out, model, enc, acc, pad=pad, loss=sup_loss, evaluate=score, metric=metric, ssl=ssl,
                     enc_u=enc_u, adversarial=adversarial, resume=resume, log_config=to_dict(cfg))
    raw.save(os.path.join(out, "model"), tok, labels.names, cfg.model.max_length,  # atomically (runs.replace_dir)
             {"ner_decode": decode[0]} if decode else None)
    result = write_outputs(raw, tok, splits, labels, cfg, state, acc.device, autocast, decode)
    shutil.rmtree(ckdir, ignore_errors=True)
    return result


def _from_config(cfg, tok, augment, ssl):
    """The config's augment and ssl sections -> (augment function, ssl/multi-view object), unless given."""
    from ..augment import build

    ac = cfg.augment
    seed = cfg.train.seed if ac.seed is None else ac.seed
    if augment is None and ac.specs:
        augs = [build(s, seed=seed) for s in ac.specs]

        def augment(texts):
            outs = [a(texts) for a in augs]
            return [[v for o in outs for v in o[i]] for i in range(len(texts))]
    if ssl is None and cfg.ssl.method:
        from ..ssl import build_ssl

        ssl = build_ssl(cfg.ssl, tok, cfg)
    if ssl is None and ac.multiview:
        from ..ssl.multiview import MultiView

        ssl = MultiView(tok, build(ac.multiview, seed=seed), ac.multiview_weight, max_length=cfg.model.max_length)
    return augment, ssl


def dev_score(model, enc_dev, dev, labels, pad, batch_size, device, autocast, max_length=None,
              decode: str = "argmax") -> float:
    from ..evaluate import classification_report, ner_report

    if dev.task == "classify":
        logits = predict_logits(model, enc_dev, pad, batch_size, device, autocast, max_length)
        pred = logits.argmax(-1).tolist()
        return classification_report(dev.labels, [labels.names[p] for p in pred], labels.names)["accuracy"]
    windows, spans = enc_dev  # encode_windows
    logits = stitch(predict_logits(model, windows, pad, batch_size, device, autocast, max_length), spans)
    pred = [[labels.names[i] for i in path] for path in decode_tags(logits, labels.names, decode)]
    return ner_report(dev.tags, pred)["f1"]
