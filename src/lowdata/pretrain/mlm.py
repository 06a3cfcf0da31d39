"""Masked-LM batches, the MLM (+ NSP/SOP) loss with the LM head at masked positions only, held-out perplexity.

Masking (Devlin et al. 2019): each token (or, with whole-word masking, each word: all its pieces together) is chosen
with probability `mlm_probability`; a chosen token becomes [MASK] 80% of the time, a random token 10%, and stays
10%; the loss is on chosen tokens only. Whole-word masking keeps 80/10/10 per token, as Google's WWM release does.
Masks are dynamic (drawn per batch, RoBERTa) from a generator seeded by (seed, step): a resumed run sees the same
masks. Hand-written rather than DataCollatorForLanguageModeling because that collator takes word boundaries only
from offsets (no jieba words for Chinese) and switches whole-word masking to 100% [MASK].
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

IGNORE = -100


def collate_packed(seqs, idx, pad: int) -> dict:
    """Packed sequences (see corpus.Packed) at `idx` -> padded tensors + word ids (-1 = special / pad)."""
    rows = [seqs[int(i)] for i in idx]
    T = max(len(r[0]) for r in rows)
    ids = torch.full((len(rows), T), pad, dtype=torch.long)
    wids = torch.full((len(rows), T), -1, dtype=torch.long)
    types = torch.zeros((len(rows), T), dtype=torch.long)
    att = torch.zeros((len(rows), T), dtype=torch.long)
    for b, (i, w, t, _) in enumerate(rows):
        n = len(i)
        ids[b, :n] = torch.from_numpy(np.asarray(i, dtype=np.int64))
        wids[b, :n] = torch.from_numpy(np.asarray(w, dtype=np.int64))
        types[b, :n] = torch.from_numpy(np.asarray(t, dtype=np.int64))
        att[b, :n] = 1
    out = {"input_ids": ids, "attention_mask": att, "word_ids": wids, "token_type_ids": types}
    nsp = [r[3] for r in rows]
    if min(nsp) >= 0:
        out["next_sentence_label"] = torch.tensor(nsp, dtype=torch.long)
    return out


def mask_tokens(batch: dict, mask_id: int, vocab_size: int, generator: torch.Generator, p: float = 0.15,
                whole_word: bool = True, mask_replace: float = 0.8, random_replace: float = 0.1) -> dict:
    """Add MLM `labels` and corrupt `input_ids` in place of a copy; drops `word_ids`. At least one token per row."""
    ids, wids = batch["input_ids"].clone(), batch.pop("word_ids")
    eligible = wids >= 0
    r = torch.rand(ids.shape, generator=generator)
    if whole_word:  # one draw per word: the value at the word's first piece, spread over its pieces
        T = ids.shape[1]
        start = torch.ones_like(eligible)
        start[:, 1:] = wids[:, 1:] != wids[:, :-1]
        pos = torch.arange(T).expand_as(ids) * start
        first = torch.cummax(pos, dim=1).values
        r = r.gather(1, first)
    r = r.masked_fill(~eligible, 2.0)
    chosen = r < p
    empty = ~chosen.any(1) & eligible.any(1)  # a row with nothing chosen: choose its lowest draw (its word)
    if empty.any():
        low = r.min(1, keepdim=True).values
        chosen |= empty[:, None] & (r == low)
    labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE))
    how = torch.rand(ids.shape, generator=generator)
    ids[chosen & (how < mask_replace)] = mask_id
    rand = chosen & (how >= mask_replace) & (how < mask_replace + random_replace)
    ids[rand] = torch.randint(vocab_size, ids.shape, generator=generator)[rand]
    return {**batch, "input_ids": ids, "labels": labels}


def _parts(model):
    """(encoder, MLM head, sentence head or None) of a Hugging Face masked-LM / BertForPreTraining model."""
    base = getattr(model, model.base_model_prefix)
    cls = getattr(model, "cls", None)
    if cls is not None and hasattr(cls, "seq_relationship"):  # BertForPreTraining
        return base, cls.predictions, cls.seq_relationship
    head = cls if cls is not None else next(
        (getattr(model, n) for n in ("lm_head", "vocab_projector", "predictions") if hasattr(model, n)), None)
    return base, head, None


def mlm_loss(model, batch: dict, return_parts: bool = False):
    """Cross-entropy on the masked tokens (+ NSP/SOP cross-entropy). The vocabulary projection runs only at the
    masked positions (~15% of tokens): over every position it costs about as much as a small encoder."""
    raw = getattr(model, "module", model)
    base, head, nsp_head = _parts(raw)
    kw = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}
    out = base(**kw)
    h = out[0]
    m = batch["labels"] != IGNORE
    logits = head(h[m]).float()
    target = batch["labels"][m]
    loss = F.cross_entropy(logits, target)
    parts = {"mlm_sum": F.cross_entropy(logits, target, reduction="sum").item() if return_parts else 0.0,
             "mlm_n": int(m.sum())}
    if nsp_head is not None and "next_sentence_label" in batch:
        pooled = out[1] if len(out) > 1 and out[1] is not None else h[:, 0]
        s_logits = nsp_head(pooled).float()
        loss = loss + F.cross_entropy(s_logits, batch["next_sentence_label"])
        parts["nsp_correct"] = int((s_logits.argmax(-1) == batch["next_sentence_label"]).sum())
        parts["nsp_n"] = len(s_logits)
    return (loss, parts) if return_parts else loss


@torch.no_grad()
def heldout_loss(model, seqs, pad: int, mask_args: dict, batch_size: int = 64, device="cpu", seed: int = 1234,
                 limit: int = 0) -> dict:
    """Mean MLM loss per masked token on held-out sequences, with the same masks every call (fixed seed), and
    its perplexity exp(loss); NSP/SOP accuracy when the model has that head."""
    was = model.training
    model.eval()
    n = min(len(seqs), limit) if limit else len(seqs)
    tot, cnt, ok, m = 0.0, 0, 0, 0
    for s in range(0, n, batch_size):
        g = torch.Generator().manual_seed(seed + s)
        b = mask_tokens(collate_packed(seqs, range(s, min(n, s + batch_size)), pad), generator=g, **mask_args)
        b = {k: v.to(device) for k, v in b.items()}
        _, parts = mlm_loss(model, b, return_parts=True)
        tot, cnt = tot + parts["mlm_sum"], cnt + parts["mlm_n"]
        ok, m = ok + parts.get("nsp_correct", 0), m + parts.get("nsp_n", 0)
    model.train(was)
    loss = tot / max(cnt, 1)
    res = {"mlm_loss": loss, "perplexity": math.exp(min(loss, 50.0)), "masked_tokens": cnt}
    if m:
        res["sentence_accuracy"] = ok / m
    return res
