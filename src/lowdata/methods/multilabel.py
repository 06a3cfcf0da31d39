"""Multi-label classification (data.task=multilabel): a sigmoid head per label, per-label thresholds chosen without
test labels, multi-label reports.

    lowdata train -c configs/goemotions-8shot.yaml                       # fine-tuning (BCE), the default
    lowdata train -c configs/goemotions-8shot.yaml ssl.method=frozen_lr  # frozen encoder + one LR per label
    lowdata train -c ... contrastive.pairs=20 train.epochs=0              # SetFit-style: pairs, then LR heads
    lowdata train -c ... ssl.method=self_training                          # per-label confident pseudo-labels

Thresholds (multilabel.thresholds): `auto` = on the dev split when there is one (its labels count in the budget),
else, for frozen_lr and SetFit-style, by k-fold cross-validation inside the labels (out-of-fold probabilities of
the same head on the same vectors), else the fixed `multilabel.threshold` (fine-tuning without dev: a fine-tuned
model's probabilities on its own training texts say nothing about held-out ones, and k extra fine-tunings would
cost k times the run). Each label's threshold maximises that label's F1 on those probabilities (ties: the lower
threshold); `at_least_one` gives a text with no label over threshold its most probable label.

Self-training (Lee 2013, per label): each round the current model labels the pool; a pool text joins the student's
training set when every label's probability is >= self_training.threshold or <= 1 - threshold and at least one is
positive (self_training.max_per_class: at most that many per positive label, the most confident first). Rounds:
self_training.rounds; each student starts again from the pretrained encoder; the last is the model (no dev selection).
"""
from __future__ import annotations

import os
import shutil

import numpy as np
import torch

from .. import runs
from ..config import ConfigError, validate
from ..evaluate.metrics import decide


def run(cfg, splits=None, *, resume: bool = False, overwrite: bool = False, allow_changes: bool = False) -> dict:
    from ..data.multilabel import MultiLabelData, load_multilabel_splits

    validate(cfg)
    kind = _kind(cfg)
    out = cfg.output_dir
    runs.check(out, cfg, resume=resume, overwrite=overwrite, allow_changes=allow_changes,
               inputs=runs.data_inputs(cfg))
    torch.manual_seed(cfg.train.seed)
    splits = splits or load_multilabel_splits(cfg.data, seed=cfg.train.seed)
    train = splits["train"]
    if not isinstance(train, MultiLabelData):
        raise ConfigError("data.task=multilabel needs multi-label training data (lowdata.data.multilabel)")
    names = train.label_set()
    if len(names) < 1:
        raise ConfigError(f"{train.source}: no labels in the training data")
    Y = train.multi_hot(names)
    evals = [(n, splits[n], splits[n].multi_hot(names)) for n in ("dev", "test") if splits.get(n) is not None]
    run_dir = runs.start(out, cfg, resume=resume, overwrite=overwrite, allow_changes=allow_changes,
                         inputs=runs.data_inputs(cfg))
    try:
        if kind == "frozen_lr":
            model, tok, cv = _frozen(cfg, train, Y)
        elif kind == "setfit":
            model, tok, cv = _setfit(cfg, train, Y, out)
        else:
            model, tok, cv = _finetune(cfg, train, Y, splits.get("dev"), out, resume)
            if kind == "self_training":
                model, tok = _self_train(cfg, train, Y, splits.get("unlabeled"), model, tok, out)
        probs = {n: _probs(model, tok, d.texts, cfg) for n, d, _ in evals}
        dev = next(((probs[n], Yd) for n, _, Yd in evals if n == "dev"), None)
        thr, source = choose_thresholds(cfg.multilabel, dev, cv, len(names))
        meta = {"multilabel": True, "thresholds": [float(t) for t in thr], "thresholds_from": source,
                "at_least_one": cfg.multilabel.at_least_one}
        model.save(os.path.join(out, "model"), tok, names, cfg.model.max_length, meta)
        metrics = {"task": "multilabel", "method": kind, "n_train": len(train), "labels": names,
                   "thresholds_from": source, "steps": 0, "best_step": 0, "history": []}
        _write(out, cfg, kind, evals, probs, thr, names, metrics)
    finally:
        run_dir.close()
    shutil.rmtree(os.path.join(out, "checkpoint"), ignore_errors=True)
    return metrics


def _kind(cfg) -> str:
    m = cfg.ssl.method
    if m == "frozen_lr":
        return "frozen_lr"
    if m == "self_training":
        return "self_training"
    if m:
        raise ConfigError(f"ssl.method={m}: not available for multi-label data (frozen_lr, self_training, or none)")
    if cfg.contrastive.pairs and not cfg.train.epochs and not cfg.train.max_steps:
        return "setfit"
    if cfg.augment.specs or cfg.adversarial.method or cfg.augment.multiview or cfg.train.lp_init:
        raise ConfigError("multi-label fine-tuning takes no augment/adversarial/lp_init settings yet: augment the "
                          "file beforehand (lowdata augment --task multilabel)")
    return "finetune"


def best_thresholds(P: np.ndarray, Y: np.ndarray, default: float) -> np.ndarray:
    """Per label, the threshold (a probability seen for that label, or `default` when it has no positive) that
    maximises F1 on (P, Y); ties go to the lower threshold."""
    thr = np.full(P.shape[1], default, np.float64)
    for c in range(P.shape[1]):
        y, p = Y[:, c] > 0, P[:, c]
        if not y.any():
            continue
        order = np.argsort(-p, kind="stable")
        tp = np.cumsum(y[order])
        k = np.arange(1, len(p) + 1)
        f1 = 2 * tp / (k + y.sum())  # predicting the top k positive
        best = int(np.argmax(f1[::-1]))  # the last maximum = the largest k = the lowest threshold among ties
        thr[c] = p[order][len(p) - 1 - best]
    return thr


def choose_thresholds(mc, dev, cv, n_labels: int):
    """-> (thresholds, where they came from) per multilabel.thresholds."""
    fixed = np.full(n_labels, mc.threshold)
    if mc.thresholds == "fixed":
        return fixed, "fixed"
    if mc.thresholds in ("auto", "dev") and dev is not None:
        return best_thresholds(dev[0], dev[1], mc.threshold), "dev"
    if mc.thresholds == "dev":
        raise ConfigError("multilabel.thresholds=dev needs a dev split (data.dev or data.dev_fraction)")
    if cv is not None:
        return best_thresholds(cv[0], cv[1], mc.threshold), "cv"
    if mc.thresholds == "cv":
        raise ConfigError("multilabel.thresholds=cv: no cross-validation here (fine-tuning has none; frozen_lr and "
                          "SetFit need at least 2 x multilabel.cv_folds labeled texts); use dev or fixed")
    return fixed, "fixed"


def _encode(tok, texts, max_length, Y=None):
    from ..batching import encode
    from ..data import TextData

    enc = encode(TextData(list(texts)), tok, None, max_length)
    if Y is not None:
        for e, y in zip(enc, Y):
            e["label"] = [float(v) for v in y]
    return enc


def _probs(model, tok, texts, cfg) -> np.ndarray:
    from ..batching import predict_logits

    enc = _encode(tok, texts, cfg.model.max_length)
    return torch.sigmoid(predict_logits(model, enc, tok.pad_token_id, cfg.train.eval_batch_size,
                                        max_length=cfg.model.max_length).float()).numpy()


def _ovr(X, Y, C: float, seed: int):
    """One logistic regression per label -> (W (C, H), b (C,)); a label constant in Y gets a constant logit."""
    from sklearn.linear_model import LogisticRegression

    W, b = np.zeros((Y.shape[1], X.shape[1]), np.float32), np.zeros(Y.shape[1], np.float32)
    for c in range(Y.shape[1]):
        y = Y[:, c]
        if y.min() == y.max():
            b[c] = 10.0 if y[0] else -10.0
            continue
        lr = LogisticRegression(max_iter=2000, C=C, random_state=seed).fit(X, y)
        W[c], b[c] = lr.coef_[0], lr.intercept_[0]
    return W, b


def _oof(X, Y, C: float, seed: int, folds: int):
    """Out-of-fold probabilities of _ovr (k-fold, shuffled, seeded) -> (P, Y), or None with too few texts."""
    from sklearn.model_selection import KFold

    if len(X) < 2 * folds:
        return None
    P = np.zeros(Y.shape, np.float64)
    for tr, te in KFold(folds, shuffle=True, random_state=seed).split(X):
        W, b = _ovr(X[tr], Y[tr], C, seed)
        P[te] = 1 / (1 + np.exp(-(X[te] @ W.T + b)))
    return P, Y


def _head_model(enc, tok, W, b):
    from ..backbone import TaskModel

    model = TaskModel(enc, W.shape[0], "classify", "mean", normalize=True)
    with torch.no_grad():
        model.head.weight.copy_(torch.from_numpy(W))
        model.head.bias.copy_(torch.from_numpy(b))
    return model.eval()


def _frozen(cfg, train, Y):
    from ..backbone import load_encoder
    from ..ssl.embedding import cached_embed

    X = cached_embed(train.texts, cfg.model.name, cfg.model.max_length, cfg.model.embed_bf16)
    W, b = _ovr(X, Y, cfg.frozen.C, cfg.train.seed)
    enc, tok = load_encoder(cfg.model.name)
    return _head_model(enc, tok, W, b), tok, _oof(X, Y, cfg.frozen.C, cfg.train.seed, cfg.multilabel.cv_folds)


class _Features:
    """A TaskModel called for its (normalised) pooled vectors, so lowdata.batching can batch it."""

    def __init__(self, model):
        self.model = model

    def eval(self):
        self.model.eval()
        return self

    def __call__(self, ids, mask):
        return self.model.features(ids, mask)


def _setfit(cfg, train, Y, out):
    from ..backbone import TaskModel, load_encoder
    from ..batching import predict_logits
    from ..contrastive import contrastive_stage, make_pairs_multilabel
    from ..loop import accelerator

    enc, tok = load_encoder(cfg.model.name)
    model = TaskModel(enc, Y.shape[1], "classify", cfg.model.pooling, cfg.model.dropout, normalize=True)
    acc = accelerator(cfg.train)
    encoded = _encode(tok, train.texts, cfg.model.max_length)
    pairs = make_pairs_multilabel(Y, cfg.contrastive.pairs, cfg.train.seed)
    if not len(pairs):
        raise ConfigError("contrastive.pairs: no pairs can be formed from these label sets")
    contrastive_stage(model, encoded, tok.pad_token_id, cfg.contrastive, cfg.train, acc, out, pairs=pairs)
    model = acc.unwrap_model(model).cpu() if hasattr(acc, "unwrap_model") else model
    X = predict_logits(_Features(model), encoded, tok.pad_token_id, cfg.train.eval_batch_size,
                       max_length=cfg.model.max_length).float().numpy()
    W, b = _ovr(X, Y, cfg.frozen.C, cfg.train.seed)
    head = _head_model(model.encoder, tok, W, b)
    return head, tok, _oof(X, Y, cfg.frozen.C, cfg.train.seed, cfg.multilabel.cv_folds)


def _finetune(cfg, train, Y, dev, out, resume, extra=None):
    """The loop with a BCE loss over the multi-hot targets; dev (if any) scores micro-F1 at the fixed threshold.
    extra: (texts, Y) added to the training set (self-training's pseudo-labels)."""
    from ..backbone import TaskModel, load_encoder
    from ..evaluate.metrics import multilabel_report
    from ..loop import accelerator, fit

    enc_model, tok = load_encoder(cfg.model.name)
    model = TaskModel(enc_model, Y.shape[1], "classify", cfg.model.pooling, cfg.model.dropout)
    texts, targets = list(train.texts), Y
    if extra is not None:
        texts, targets = texts + list(extra[0]), np.vstack([Y, extra[1]])
    enc = _encode(tok, texts, cfg.model.max_length, targets)
    acc = accelerator(cfg.train)

    def bce(m, batch):  # (B, C) logits against (B, C) 0/1 targets
        logits = m(batch["input_ids"], batch["attention_mask"])
        return torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), batch["labels"].float())

    score = None
    if dev is not None:
        Yd = dev.multi_hot(train.label_set())

        def score(m):
            P = _probs(m, tok, dev.texts, cfg)
            return multilabel_report(Yd, decide(P, [cfg.multilabel.threshold] * Y.shape[1]), train.label_set())["f1"]
    raw, _ = fit(cfg.train, out, model, enc, acc, pad=tok.pad_token_id, loss=bce, evaluate=score, metric="micro_f1",
                 resume=resume)
    return raw.cpu().eval(), tok, None


def _self_train(cfg, train, Y, pool, model, tok, out):
    if pool is None or not len(pool):
        raise ConfigError("ssl.method=self_training needs unlabeled data: data.unlabeled, or data.k_per_class (the "
                          "rest of train)")
    st = cfg.self_training
    for r in range(1, st.rounds + 1):
        P = _probs(model, tok, pool.texts, cfg)
        sure = ((P >= st.threshold) | (P <= 1 - st.threshold)).all(1) & (P >= st.threshold).any(1)
        keep = np.flatnonzero(sure)
        if st.max_per_class and len(keep):  # at most this many per positive label, the most confident first
            conf = np.abs(P[keep] - 0.5).min(1)  # the least certain label of the text
            pos = P[keep] >= st.threshold
            take = set()
            for c in range(P.shape[1]):
                rows = np.flatnonzero(pos[:, c])
                take.update(rows[np.argsort(-conf[rows], kind="stable")[: st.max_per_class]].tolist())
            keep = keep[sorted(take)]
        print(f"self-training round {r}: {len(keep)} of {len(pool)} pool texts pseudo-labeled", flush=True)
        if not len(keep):
            break
        extra = ([pool.texts[i] for i in keep], (P[keep] >= st.threshold).astype(np.float32))
        model, tok, _ = _finetune(cfg, train, Y, None, os.path.join(out, f"round_{r}"), False, extra)
    return model, tok


def _write(out, cfg, kind, evals, probs, thr, names, metrics) -> None:
    from ..evaluate.metrics import multilabel_report, render_markdown

    md = [f"# lowdata run: {out}", "", f"model `{cfg.model.name}`, multi-label ({len(names)} labels), method {kind}, "
          f"{metrics['n_train']} labeled examples; thresholds from {metrics['thresholds_from']}", ""]
    recs = []
    for n, d, Yd in evals:
        D = decide(probs[n], thr, cfg.multilabel.at_least_one)
        rep = multilabel_report(Yd, D, names)
        metrics[n] = rep
        md.append(render_markdown(rep, f"{n} ({d.source})"))
        recs = [{"split": n, "text": t, "pred": [names[j] for j in np.flatnonzero(row)],
                 "scores": {names[j]: round(float(p[j]), 6) for j in np.argsort(-p)[:5]}, "labels": list(gold)}
                for t, row, p, gold in zip(d.texts, D, probs[n], d.labels)]
    md += ["", "Thresholds per label: " + ", ".join(f"{n} {t:.3f}" for n, t in zip(names, thr))]
    runs.write_lines(os.path.join(out, "predictions.jsonl"), recs)
    runs.write_text(os.path.join(out, "report.md"), "\n".join(md))
    runs.write_json(os.path.join(out, "metrics.json"), metrics)  # last: the run is finished
