"""Frozen-encoder methods as a train path: `ssl.method: frozen_lr | label_spreading | gcn` in any train config.

    lowdata train -c configs/agnews-10shot-gcn.yaml            # no fine-tuning: minutes on a CPU, not hours

The encoder is not trained. Sentence vectors (mean-pooled, L2-normalised) are cached per text on disk
(`LOWDATA_CACHE`, default ~/.cache/lowdata/embeddings), so a learning-curve study embeds each text once.
frozen_lr: logistic regression on the labeled vectors (the "frozen embeddings + LR" baseline).
label_spreading (Zhou et al. 2003, alpha 0.99) and gcn (Kipf & Welling 2017, 2 layers): transductive, over a kNN
graph of the labeled, unlabeled, dev and test points; dev/test labels are never used, their points only join the
graph as unlabeled nodes, as in the papers' transductive setting. Output dir: metrics.json, report.md,
predictions.jsonl, confusion PNGs, like a fine-tuning run; frozen_lr also writes model/ (the frozen encoder and the
regression as the head of normalised vectors, so lowdata predict uses it); the graph methods are transductive and
write no model. Sentence vectors come from lowdata.ssl.embedding.cached_embed.
With contrastive.pairs > 0 the encoder is first tuned by SetFit's contrastive stage on the labeled texts (its run in
output_dir/encoder; tune_encoder) and the method runs over the tuned encoder's vectors (computed afresh, not cached):
frozen_lr is then SetFit itself, gcn / label_spreading propagate the labels over a graph of tuned features.
frozen.pseudo_labels (frozen_lr, with data.unlabeled): the regression is fitted on the labels and the pool's graph
pseudo-labels (pseudo_labeled), still an inductive model.
"""
from __future__ import annotations

import os
import shutil

import numpy as np

from .. import runs
from ..ssl.embedding import cached_embed

from . import FROZEN  # noqa: F401  (the ssl.method names this method answers to)


def run(cfg, splits: dict | None = None, *, resume: bool = False, overwrite: bool = False,
        allow_changes: bool = False) -> dict:
    """Fit a frozen-encoder classifier (see the module docstring). resume/allow_changes: nothing to resume (no loop)."""
    from ..backbone import check_model
    from ..data import LabelMap
    from ..data.splits import load_splits

    method, out = cfg.ssl.method, cfg.output_dir
    runs.check(out, cfg, overwrite=overwrite, inputs=runs.data_inputs(cfg))
    splits = splits or load_splits(cfg.data, seed=cfg.train.seed)
    train = splits["train"]
    if train.task != "classify":
        from ..config import ConfigError

        raise ConfigError(f"ssl.method={method} is for classification")
    labels = LabelMap.from_data(train)
    if len(labels) < 2:
        from ..data import DataError

        raise DataError(f"ssl.method={method} needs labeled examples of at least two classes, got only "
                        f"{labels.names}", train.source)
    evals = [(n, splits[n]) for n in ("dev", "test") if splits.get(n) is not None]
    for n, d in evals:
        labels.check(d, n)
    check_model(cfg.model.name)
    with runs.start(out, cfg, overwrite=overwrite, inputs=runs.data_inputs(cfg)):
        encoder = tune_encoder(cfg, train, out) if cfg.contrastive.pairs else None
        metrics = _run_embedding(cfg, splits, method, out, labels, evals, encoder)
        if encoder:  # its weights are in model/ (frozen_lr) or needed no more (the graph methods label what they saw);
            # a reused copy (contrastive.reuse_dir) stays where it is
            shutil.rmtree(os.path.join(out, "encoder", "model"), ignore_errors=True)
        return metrics


def tune_encoder(cfg, train, out: str) -> str:
    """SetFit's contrastive stage (lowdata.contrastive, Tunstall et al. 2022) on the labeled texts, as its own run in
    out/encoder -> the tuned model folder, whose encoder the frozen method then embeds with. With a graph method this
    is label propagation over features tuned on the labels, as in Iscen et al. 2019 ("Label Propagation for Deep
    Semi-supervised Learning"), whose kNN graph is built on the trained network's features; deviation: the features
    are tuned once, on the labeled pairs only, not re-extracted every epoch."""
    import copy

    from .finetune import run as finetune

    kept = os.path.join(cfg.contrastive.reuse_dir, tuning_key(cfg, train)) if cfg.contrastive.reuse_dir else None
    if kept and os.path.exists(os.path.join(kept, "config.json")):  # complete: copies are renamed into place
        return kept
    c = copy.deepcopy(cfg)
    c.ssl.method, c.output_dir, c.train.epochs, c.train.max_steps = None, os.path.join(out, "encoder"), 0, 0
    c.frozen.pseudo_labels = None  # the head's business, after the tuning
    finetune(c, {"train": train, "dev": None, "test": None, "unlabeled": None}, overwrite=True)
    tuned = os.path.join(out, "encoder", "model")
    if kept:
        os.makedirs(cfg.contrastive.reuse_dir, exist_ok=True)
        tmp = f"{kept}.part-{os.getpid()}"
        shutil.copytree(tuned, tmp, dirs_exist_ok=True)
        if os.path.exists(kept):  # an incomplete copy from a killed run (no config.json): replaced
            shutil.rmtree(kept, ignore_errors=True)
        os.replace(tmp, kept)
    return tuned


def tuning_key(cfg, train) -> str:
    """What a tuned encoder depends on, hashed: the model, contrastive and train settings and the labeled texts."""
    import dataclasses
    import hashlib
    import json

    what = {"model": dataclasses.asdict(cfg.model), "train": dataclasses.asdict(cfg.train),
            "contrastive": {k: v for k, v in dataclasses.asdict(cfg.contrastive).items() if k != "reuse_dir"},
            "texts": list(train.texts), "labels": list(train.labels)}
    for k in ("progress", "report_to"):
        what["train"].pop(k, None)
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _run_embedding(cfg, splits, method, out, labels, evals, encoder=None) -> dict:
    from ..ssl.graph import embed, gcn, load_for_embedding, propagate

    train = splits["train"]
    bf16 = cfg.model.embed_bf16
    emb = lambda d: cached_embed(d.texts, cfg.model.name, cfg.model.max_length, bf16)  # noqa: E731
    if encoder:  # a tuned encoder: embedded afresh (its vectors belong to this run alone, not to the shared cache)
        pair = load_for_embedding(encoder)
        emb = lambda d: embed(d.texts, encoder, max_length=cfg.model.max_length, encoder=pair, bf16=bf16)  # noqa
    E_l, y = emb(train), np.array([labels.encode(v) for v in train.labels])
    extra = {}  # what the method adds to metrics.json
    if method == "frozen_lr":
        from sklearn.linear_model import LogisticRegression

        X, Y, W = E_l, y, None
        if cfg.frozen.pseudo_labels:
            X, Y, W = pseudo_labeled(cfg, splits.get("unlabeled"), E_l, y, emb, extra)
        clf = LogisticRegression(max_iter=2000, C=cfg.frozen.C, random_state=cfg.train.seed).fit(X, Y,
                                                                                                  sample_weight=W)
        probs = {n: clf.predict_proba(emb(d)) for n, d in evals}
        if cfg.frozen.save_model:
            save_lr_model(cfg, clf, labels, os.path.join(out, "model"), encoder)
    else:
        parts = ([emb(splits["unlabeled"])] if splits.get("unlabeled") is not None else []) + [emb(d) for _, d in
                                                                                              evals]
        if not parts:
            probs = {}
        else:
            U = np.vstack(parts)
            fc = cfg.frozen
            P = gcn(E_l, y, U, k=fc.k, seed=cfg.train.seed) if method == "gcn" else \
                propagate(E_l, y, U, k=fc.k, alpha=fc.alpha)
            probs, end = {}, len(U)
            for n, d in reversed(evals):
                probs[n], end = P[end - len(d): end], end - len(d)
    metrics = {"task": "classify", "n_train": len(train), "labels": labels.names, "steps": 0, "best_step": 0,
               "history": [], "method": method, **extra}
    how = f"tuned by SetFit's contrastive stage ({cfg.contrastive.pairs} pairs per text), then frozen" if encoder \
        else "frozen"
    header = f"model `{cfg.model.name}` ({how}), method {method}, {len(train)} labeled examples" + \
        (f", {len(splits['unlabeled'])} unlabeled" if splits.get("unlabeled") is not None else "")
    write_prob_outputs(out, header, evals, probs, labels, metrics)
    shutil.rmtree(os.path.join(out, "checkpoint"), ignore_errors=True)
    return metrics


def pseudo_labeled(cfg, pool, E_l, y, emb, info: dict):
    """One round of self-training of the logistic head on graph pseudo-labels (frozen.pseudo_labels): a GCN (Kipf &
    Welling 2017) or label spreading (Zhou et al. 2003) over the kNN graph of the labeled texts and the pool (a
    seeded sample of at most frozen.pseudo_max_pool). Dev and test texts are never in this graph, so the head is
    inductive (model/ labels any new text). After Iscen et al. 2019 ("Label Propagation for Deep Semi-supervised
    Learning": pseudo-labels from a graph over the network's features train the classifier); one round, the head only.
    frozen.pseudo_weighting picks which pseudo-labels join the labels and how much they count:
    - "top": the most confident frozen.pseudo_portion of each predicted class, cut to the rarest class's count
      (ssl.pseudo_label.top_balanced), weight 1, as the labels (a deviation from the paper: a hard selection);
    - "certainty": the paper's weighting: every pool text, weighted by its certainty 1 - H(p)/log C, and every
      example, labels included, by the inverse size of its (pseudo-)class (the paper's class-balancing term); then
      rescaled to mean 1, so that frozen.C means what it means without pseudo-labels (the paper's weights sit in an
      SGD loss, where the scale is the learning rate's business). Less harm where the graph is unsure: its weights
      shrink as its probabilities flatten.
    Measured on the design sets MR, Pros & Cons and CLINC150's travel intents over SetFit-tuned features
    (bench/setfit_heads.py, docs/numbers.md). -> (features, labels, sample weights or None) to fit on; info gets the
    pseudo-labels' count (and, for certainty, their mean certainty)."""
    from ..config import ConfigError
    from ..ssl.graph import gcn, propagate
    from ..ssl.pseudo_label import top_balanced

    fc = cfg.frozen
    if pool is None or not len(pool):
        raise ConfigError(f"frozen.pseudo_labels={fc.pseudo_labels} needs unlabeled texts (data.unlabeled)")
    if len(pool) > fc.pseudo_max_pool:
        idx = np.sort(np.random.default_rng([cfg.train.seed, 7]).choice(len(pool), fc.pseudo_max_pool, replace=False))
        pool = pool.subset(idx.tolist(), unlabeled=True)
    E_u = emb(pool)
    P = gcn(E_l, y, E_u, k=fc.k, seed=cfg.train.seed) if fc.pseudo_labels == "gcn" else \
        propagate(E_l, y, E_u, k=fc.k, alpha=fc.alpha)
    info["pseudo_labels"] = {"method": fc.pseudo_labels, "weighting": fc.pseudo_weighting, "pool": len(pool)}
    if fc.pseudo_weighting == "certainty":
        C = P.shape[1]
        tot = P.sum(1, keepdims=True)  # a text the graph never reached (all zeros) counts as an even guess
        P = np.clip(np.where(tot > 0, P / np.where(tot > 0, tot, 1), 1.0 / C), 1e-12, None)
        certainty = 1 - (-(P * np.log(P)).sum(1) / np.log(C)) if C > 1 else np.ones(len(P))
        Y = np.concatenate([y, P.argmax(1)])
        w = np.concatenate([np.ones(len(y)), np.clip(certainty, 0, 1)]) / np.bincount(Y, minlength=C).clip(
            min=1)[Y]
        info["pseudo_labels"].update(kept=len(P), mean_certainty=round(float(certainty.mean()), 4))
        return np.vstack([E_l, E_u]), Y, w / w.mean()
    keep, cls = top_balanced(P, fc.pseudo_portion)
    info["pseudo_labels"]["kept"] = int(len(keep))
    return np.vstack([E_l, E_u[keep]]), np.concatenate([y, cls]), None


def save_lr_model(cfg, clf, labels, path: str, encoder: str | None = None) -> None:
    """The frozen encoder + the logistic regression as a lowdata model folder (lowdata predict/eval/attack load
    it): the head is the regression's weights over the L2-normalised mean-pooled vector (TaskModel normalize=True),
    for two classes the logits (0, w.x + b), whose softmax is the regression's probability."""
    import torch

    from ..backbone import TaskModel, load_encoder

    enc, tok = load_encoder(encoder or cfg.model.name)  # a tuned encoder: the model folder tune_encoder wrote
    model = TaskModel(enc, len(labels), "classify", "mean", normalize=True)
    W, b = np.asarray(clf.coef_, np.float32), np.asarray(clf.intercept_, np.float32)
    if len(labels) == 2 and W.shape[0] == 1:
        W, b = np.vstack([np.zeros_like(W), W]), np.concatenate([[0.0], b]).astype(np.float32)
    with torch.no_grad():
        model.head.weight.copy_(torch.from_numpy(W))
        model.head.bias.copy_(torch.from_numpy(b))
    model.save(path, tok, labels.names, cfg.model.max_length)


def write_prob_outputs(out: str, header: str, evals: list, probs: dict, labels, metrics: dict) -> dict:
    """A run's outputs from class probabilities per split: the reports go into `metrics` (returned), metrics.json,
    report.md, predictions.jsonl (the last split's, like a fine-tuning run) and a confusion PNG per split."""
    from ..evaluate.metrics import classification_report, render_markdown, save_confusion_png

    md = [f"# lowdata run: {out}", "", header, ""]
    recs = []
    for n, d in evals:
        pred = [labels.names[i] for i in probs[n].argmax(1)]
        rep = classification_report(d.labels, pred, labels.names)
        metrics[n] = rep
        md.append(render_markdown(rep, f"{n} ({d.source})"))
        save_confusion_png(rep, os.path.join(out, f"confusion_{n}.png"))
        recs = [{"split": n, "text": t, "pred": p, "confidence": round(float(c), 6), "label": g}
                for t, p, c, g in zip(d.texts, pred, probs[n].max(1), d.labels)]
    runs.write_lines(os.path.join(out, "predictions.jsonl"), recs)
    runs.write_text(os.path.join(out, "report.md"), "\n".join(md))
    runs.write_json(os.path.join(out, "metrics.json"), metrics)  # last, atomically: it marks the run finished
    return metrics
