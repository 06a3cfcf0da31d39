"""SetFit's contrastive stage (Tunstall et al. 2022, "Efficient Few-Shot Learning Without Prompts").

    contrastive:            # in a train config
      pairs: 20             # R: per training text and round, one same-class and one other-class partner
      sampling: per_text    # or unique: the setfit library's pairs (every pair once before any recurs); or auto:
                            # unique for more than two classes, per_text for two
    train:
      lp_init: true         # implied: the head is then a logistic regression on the tuned features (SetFit's head)
      epochs: 0             # 0 = SetFit as published (tuned body + logistic head); > 0 = then fine-tune end to end

Before any classifier exists, the sentence encoder is fine-tuned on pairs of training texts: the cosine similarity of
their pooled features is regressed onto 1 for a same-class pair and 0 for a different-class pair (the
CosineSimilarityLoss of sentence-transformers, SetFit's default). With 16 labels per class that is 1,280 pairs from
32 texts, which is why it works with so few labels.

Deviations from the SetFit library: pairs are drawn here (R rounds of one positive and one negative partner per text,
like its "oversampling" strategy without the class re-balancing) rather than by sentence-transformers; features are
TaskModel.features (the pooling the classifier uses; with no fine-tuning epochs after the stage they are
L2-normalised, TaskModel normalize=True, so the logistic head sees what the library's head sees through the
Normalize module of all-MiniLM-L6-v2 / all-mpnet-base-v2; a cosine does not change either way);
the stage runs through the one loop (`train.fit`) with a pair batch and the cosine loss, so it gets the same
optimizer, warmup, clipping, logging and length bucketing.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np
import torch
import torch.nn.functional as F

from .batching import collate, lengths


def make_pairs(labels, rounds: int, seed: int = 0) -> np.ndarray:
    """-> (P, 3) int array of (i, j, same) rows: for each round and text i, a random same-class partner j != i
    (skipped when i's class has one member) and a random other-class partner (skipped when there is one class)."""
    y = np.asarray(labels)
    rng = np.random.default_rng([seed, 1729])
    by_class = {c: np.flatnonzero(y == c) for c in np.unique(y)}
    others = {c: np.flatnonzero(y != c) for c in by_class}
    rows = []
    for _ in range(rounds):
        for i, c in enumerate(y):
            same = by_class[c]
            if len(same) > 1:
                j = same[rng.integers(len(same) - 1)]
                j = same[-1] if j == i else j  # uniform over the class without i
                rows.append((i, j, 1))
            if len(others[c]):
                rows.append((i, others[c][rng.integers(len(others[c]))], 0))
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def make_pairs_unique(labels, rounds: int, seed: int = 0) -> np.ndarray:
    """The setfit library's pairs (1.x, sampler.ContrastiveDataset with num_iterations = rounds): every unordered pair
    of texts, self-pairs included (np.triu_indices with the diagonal, as its shuffle_combinations), in a seeded random
    order, split into same-class and other-class lists; each list is cycled to rounds x N rows and the two are
    interleaved. Unlike make_pairs, a pair recurs only once every other pair of its kind has come (the library's own
    order uses a fixed seed, 42; here the run's seed). -> (P, 3) rows like make_pairs'."""
    y = np.asarray(labels)
    n = len(y)
    ij = np.stack(np.triu_indices(n, 0), axis=-1)[np.random.default_rng([seed, 1730]).permutation(n * (n + 1) // 2)]
    same = y[ij[:, 0]] == y[ij[:, 1]]
    out = []
    for part, t in ((ij[same], 1), (ij[~same], 0)):
        if len(part):
            rows = part[np.arange(rounds * n) % len(part)]
            out.append(np.column_stack([rows, np.full(len(rows), t)]))
    if not out:
        return np.zeros((0, 3), dtype=np.int64)
    if len(out) == 1:
        return out[0].astype(np.int64)
    return np.stack(out, axis=1).reshape(-1, 3).astype(np.int64)  # pos, neg, pos, neg, ...


def sampler(sampling: str, labels):
    """The pair maker for contrastive.sampling: per_text (make_pairs), unique (make_pairs_unique), or auto: unique
    for labels of more than two classes, per_text for two. An option, not the default: on the multi-class design sets
    unique lost 0.30 points on average (docs/numbers.md, session 24)."""
    if sampling == "auto":
        sampling = "unique" if len(np.unique(np.asarray(labels))) > 2 else "per_text"
    return make_pairs_unique if sampling == "unique" else make_pairs


def pair_loss(model, batch):
    """MSE between cos(f(a), f(b)) and the pair's target (1 same class, 0 not)."""
    u = model.features(batch["input_ids"], batch["attention_mask"]).float()  # (B, H)
    v = model.features(batch["input_ids_b"], batch["attention_mask_b"]).float()
    return F.mse_loss(F.cosine_similarity(u, v, dim=-1), batch["target"])


def make_pairs_multilabel(Y, rounds: int, seed: int = 0) -> np.ndarray:
    """Multi-label pairs, as the setfit library's multi-label pair generation: for each round and text i, one of
    its labels c at random, a partner j != i that carries c (same = 1) and a partner that does not (same = 0).
    Y: (N, C) 0/1. Texts without labels only ever serve as negatives."""
    Y = np.asarray(Y) > 0
    rng = np.random.default_rng([seed, 1729])
    rows = []
    for _ in range(rounds):
        for i in range(len(Y)):
            mine = np.flatnonzero(Y[i])
            if not len(mine):
                continue
            c = mine[rng.integers(len(mine))]
            pos, neg = np.flatnonzero(Y[:, c]), np.flatnonzero(~Y[:, c])
            pos = pos[pos != i]
            if len(pos):
                rows.append((i, pos[rng.integers(len(pos))], 1))
            if len(neg):
                rows.append((i, neg[rng.integers(len(neg))], 0))
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def contrastive_stage(model, enc: list[dict], pad: int, cc, tc, acc, out: str, pairs=None) -> dict:
    """Tune `model`'s encoder on pairs of the labeled examples `enc` (cc: the config's contrastive section, tc:
    train section for the shared loop settings; pairs: (P, 3) rows, default make_pairs over the examples' labels).
    Logs under out/contrastive. -> the loop state."""
    from .loop import fit

    if pairs is None:
        labels = [e["label"] for e in enc]
        pairs = sampler(cc.sampling, labels)(labels, cc.pairs, tc.seed)
    if not len(pairs):
        from .config import ConfigError

        raise ConfigError("contrastive.pairs: no pairs can be formed (one example per class and one class?)")
    lens = np.maximum(lengths(enc)[pairs[:, 0]], lengths(enc)[pairs[:, 1]])
    if not cc.bucket:  # one length for all: bucket_batches' sort keeps the seeded random order
        lens = np.zeros_like(lens)

    def make_batch(idx, step):
        p = pairs[idx]
        a, b = collate(enc, p[:, 0], pad), collate(enc, p[:, 1], pad)
        return {"input_ids": a["input_ids"], "attention_mask": a["attention_mask"], "input_ids_b": b["input_ids"],
                "attention_mask_b": b["attention_mask"], "target": torch.tensor(p[:, 2], dtype=torch.float32)}

    ctc = dataclasses.replace(tc, epochs=cc.epochs, max_steps=cc.max_steps, batch_size=cc.batch_size, lr=cc.lr,
                              head_lr=None, lp_init=False, patience=0, eval_every=0, save_every=0)
    _, state = fit(ctc, os.path.join(out, "contrastive"), model, enc, acc, pad=pad, lens=lens,
                   make_batch=make_batch, loss=pair_loss, metric="pair_mse")
    state["pairs"] = len(pairs)
    return state
