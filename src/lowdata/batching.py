"""Tokenize once, then length-bucketed batches with dynamic padding, and batched prediction.

    enc = encode(data, tokenizer, labels, max_length=128)        # list of dicts of python lists
    for idx in bucket_batches(lengths(enc), batch_size=16, seed=0, epoch=0): batch = collate(enc, idx, pad_id)
    preds = predict(model, enc, ...)                              # label ids per example (or per word for NER)

Bucketing: shuffle, cut into chunks of `bucket` batches, sort each chunk by length, slice into batches and
shuffle the batch order (the same idea as Trainer's group_by_length). Padding per batch is to its longest
example, so short sentences cost little. Batch order depends only on (seed, epoch): a resumed run sees
exactly the batches an uninterrupted run would.
"""
from __future__ import annotations

import numpy as np
import torch

IGNORE = -100  # label id ignored by the loss (non-first subtokens, special tokens)


_WARNED: set = set()


def _warn_cut(n: int, total: int, data, max_length: int, what: str, done: str = "were cut") -> None:
    """Say how many texts were longer than max_length and what was done, once per message (a split is encoded more
    than once in a run)."""
    if n:
        import warnings

        from .errors import LowdataWarning

        src = f" of {data.source}" if data.source else ""
        msg = (f"{n} of {total} {what}{src} are longer than max_length={max_length} tokens and {done} "
               f"(raise model.max_length to keep more of them)")
        if msg not in _WARNED:
            _WARNED.add(msg)
            warnings.warn(msg, LowdataWarning, stacklevel=3)


def encode(data, tokenizer, labels=None, max_length: int = 128, warn: bool = True) -> list[dict]:
    """TextData/TokenData -> [{"input_ids": [...], "label": int}] or, for NER, with "labels" per subtoken and
    "word_ids" (first-subtoken position of each word; -1 for words cut off by truncation).
    Texts longer than max_length are cut, with a LowdataWarning giving their count (warn=False: silent)."""
    out = []
    if data.task == "classify":
        enc = tokenizer(data.texts, truncation=True, max_length=max_length)
        full = [i for i, ids in enumerate(enc["input_ids"]) if len(ids) >= max_length]
        if warn and full:  # only texts that fill max_length can have been cut: tokenize those again, uncut
            whole = tokenizer([data.texts[i] for i in full], truncation=False)["input_ids"]
            _warn_cut(sum(len(w) > max_length for w in whole), len(data.texts), data, max_length, "texts")
        for i, ids in enumerate(enc["input_ids"]):
            ex = {"input_ids": ids}
            if labels is not None and data.labels is not None:
                ex["label"] = labels.encode(data.labels[i])
            out.append(ex)
        return out
    for i, (ids, wids) in enumerate(_word_pieces(data.tokens, tokenizer, max_length)):
        first = [-1] * len(data.tokens[i])
        lab = [IGNORE] * len(ids)
        prev = None
        for pos, w in enumerate(wids):
            if w is not None and w != prev:  # first subtoken of word w carries its tag
                first[w] = pos
                if labels is not None and data.tags is not None:
                    lab[pos] = labels.encode(data.tags[i][w])
            prev = w
        ex = {"input_ids": ids, "word_ids": first}
        if labels is not None and data.tags is not None:
            ex["labels"] = lab
        out.append(ex)
    if warn:
        _warn_cut(sum(-1 in e["word_ids"] for e in out), len(out), data, max_length, "sentences",
                  "were cut: the words past the cut are not trained on (predictions cover them by whole-word windows)")
    return out


def _bare_mark(tokenizer):
    """Id of a SentencePiece tokenizer's lone word-start piece U+2581, else None. Fed words one by one
    (is_split_into_words), such a tokenizer marks every word, and a Chinese character becomes two pieces, U+2581
    and the character (XLM-R's vocabulary, e5-small's): the lone mark is dropped where its word has more pieces,
    which halves the length of character-level Chinese NER and gives the pieces unspaced Chinese text has."""
    pre = getattr(getattr(tokenizer, "backend_tokenizer", None), "pre_tokenizer", None)
    if pre is None or "Metaspace" not in type(pre).__name__ and "Metaspace" not in repr(pre):
        return None
    mark = tokenizer.convert_tokens_to_ids("\u2581")
    return None if mark is None or mark == tokenizer.unk_token_id else mark


def _word_pieces(sentences, tokenizer, max_length):
    """Word lists -> [(input ids, word id per position)], special tokens included, cut to max_length (None: no
    cut) as the tokenizer's own truncation would: content cut, the closing special token kept."""
    mark = _bare_mark(tokenizer)
    if mark is None:
        kw = {"truncation": True, "max_length": max_length} if max_length else {"add_special_tokens": False}
        enc = tokenizer(sentences, is_split_into_words=True, **kw)
        return [(ids, enc.word_ids(i)) for i, ids in enumerate(enc["input_ids"])]
    enc = tokenizer(sentences, is_split_into_words=True, add_special_tokens=max_length is not None)
    out = []
    for i, ids in enumerate(enc["input_ids"]):
        wids = enc.word_ids(i)
        keep = [p for p, (t, w) in enumerate(zip(ids, wids))
                if not (t == mark and w is not None and p + 1 < len(ids) and wids[p + 1] == w)]
        ids, wids = [ids[p] for p in keep], [wids[p] for p in keep]
        if max_length and len(ids) > max_length:
            ids, wids = ids[:max_length - 1] + ids[-1:], wids[:max_length - 1] + wids[-1:]
        out.append((ids, wids))
    return out


def encode_windows(data, tokenizer, labels=None, max_length: int = 128):
    """NER data -> (encodings, spans): a sentence that fits max_length is one window; a longer one is split into
    windows of whole words that each fit, so every word gets a prediction (no word is silently tagged O).
    spans[i] = [(window index, first word, end word), ...] for sentence i. Deviation from overlapping sliding
    windows: the windows do not overlap, so a word at a window's edge sees context on one side only."""
    from .data import TokenData

    enc = encode(data, tokenizer, labels, max_length, warn=False)
    budget = max(1, max_length - tokenizer.num_special_tokens_to_add())
    windows, spans = [], []
    for i, e in enumerate(enc):
        if -1 not in e["word_ids"]:
            spans.append([(len(windows), 0, len(data.tokens[i]))])
            windows.append(e)
            continue
        (_, wids), = _word_pieces([data.tokens[i]], tokenizer, None)
        counts = np.bincount([w for w in wids if w is not None], minlength=len(data.tokens[i]))
        cuts, start, used = [], 0, 0
        for w, c in enumerate(counts):
            if used + c > budget and w > start:
                cuts.append((start, w))
                start, used = w, 0
            used += c
        cuts.append((start, len(data.tokens[i])))
        part = TokenData([data.tokens[i][a:b] for a, b in cuts],
                         None if data.tags is None else [data.tags[i][a:b] for a, b in cuts])
        spans.append([(len(windows) + j, a, b) for j, (a, b) in enumerate(cuts)])
        windows += encode(part, tokenizer, labels, max_length, warn=False)
    _warn_cut(sum(len(sp) > 1 for sp in spans), len(spans), data, max_length, "sentences",
              f"are predicted in whole-word windows ({len(windows)} windows for {len(spans)} sentences)")
    return windows, spans


def stitch(window_logits: list, spans: list) -> list:
    """Per-window word logits (from predict_logits over encode_windows' encodings) -> one (n_words, C) per sentence."""
    return [torch.cat([window_logits[j] for j, _, _ in sp]) for sp in spans]


def lengths(enc: list[dict]) -> np.ndarray:
    return np.array([len(e["input_ids"]) for e in enc])


def bucket_batches(lens: np.ndarray, batch_size: int, seed: int, epoch: int, bucket: int = 50) -> list[np.ndarray]:
    rng = np.random.default_rng([seed, epoch])
    perm = rng.permutation(len(lens))
    batches = []
    for s in range(0, len(perm), batch_size * bucket):
        chunk = perm[s: s + batch_size * bucket]
        chunk = chunk[np.argsort(-lens[chunk], kind="stable")]
        batches += [chunk[i: i + batch_size] for i in range(0, len(chunk), batch_size)]
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


def padded_batches(lens: np.ndarray, batch_size: int, max_length: int | None = None):
    """Batches for inference whose results do not depend on the batch: each example is padded to its own length
    rounded up to a multiple of 8 (at most max_length, default the longest of `lens`; 0: not rounded, its own length
    only), and a batch holds examples of one padded length only. CPU kernels give the same text results ~1e-7 apart
    at different padded lengths (measured on MiniLM), so with longest-in-batch padding a text's logits depended on
    its batch-mates (which texts share a file, a chunk or a Ray batch). -> (list of index arrays, longest padded
    length first; padded lengths)."""
    lens = np.asarray(lens)
    cap = int(lens.max()) if max_length is None and len(lens) else (max_length or 0)
    padded = np.maximum(lens, np.minimum((lens + 7) // 8 * 8, cap))
    order = np.lexsort((np.arange(len(lens)), -padded))  # longest padded length first, input order within one
    batches = [c[s: s + batch_size] for c in np.split(order, np.flatnonzero(np.diff(padded[order])) + 1)
               for s in range(0, len(c), batch_size)] if len(lens) else []
    return batches, padded


def collate(enc: list[dict], idx, pad_id: int, to: int | None = None) -> dict:
    """Pad the examples `idx` to their longest (or to `to`): input_ids/attention_mask (B, T), labels (B,) or
    (B, T)."""
    rows = [enc[i] for i in idx]
    T = max([len(r["input_ids"]) for r in rows] + [to or 0])
    ids = torch.full((len(rows), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), T), dtype=torch.long)
    for j, r in enumerate(rows):
        n = len(r["input_ids"])
        ids[j, :n] = torch.tensor(r["input_ids"])
        mask[j, :n] = 1
    batch = {"input_ids": ids, "attention_mask": mask}
    if "soft" in rows[0]:  # a teacher's class probabilities (ssl.method=distill)
        batch["soft"] = torch.tensor([r["soft"] for r in rows], dtype=torch.float32)
    if "hidden_label" in rows[0]:  # unlabeled pool with known labels (benchmarks): for logging only
        batch["hidden_labels"] = torch.tensor([r["hidden_label"] for r in rows])
    if "label" in rows[0]:
        batch["labels"] = torch.tensor([r["label"] for r in rows])
    elif "labels" in rows[0]:
        lab = torch.full((len(rows), T), IGNORE, dtype=torch.long)
        for j, r in enumerate(rows):
            lab[j, : len(r["labels"])] = torch.tensor(r["labels"])
        batch["labels"] = lab
    return batch


@torch.inference_mode()
def predict_logits(model, enc: list[dict], pad_id: int, batch_size: int = 64, device=None, autocast=None,
                   max_length: int | None = None):
    """Logits for every example, in input order, batched by padded length (padded_batches: a text's logits do not
    depend on the other texts; max_length: the encodings' limit, the most a text is padded to). Classification:
    (N, C) tensor. NER: list of (n_words, C) tensors taken at each word's first subtoken (zeros for truncated
    words). A classifier's head is batch-invariant in eval mode too (TaskModel.forward)."""
    model.eval()
    batches, padded = padded_batches(lengths(enc), batch_size, max_length)
    results = [None] * len(enc)
    for idx in batches:
        b = collate(enc, idx, pad_id, to=int(padded[idx[0]]))
        ids, mask = b["input_ids"].to(device), b["attention_mask"].to(device)
        if autocast is not None:
            with autocast():
                logits = model(ids, mask)
        else:
            logits = model(ids, mask)
        logits = logits.float().cpu()
        for j, i in enumerate(idx):
            if "word_ids" in enc[i]:
                w = torch.tensor(enc[i]["word_ids"])
                row = torch.zeros(len(w), logits.shape[-1])
                keep = w >= 0
                row[keep] = logits[j, w[keep]]
                results[i] = row
            else:
                results[i] = logits[j]
    if enc and "word_ids" not in enc[0]:
        return torch.stack(results) if results else torch.zeros(0)
    return results


def predict_probs(model, tok, texts: list[str], max_length: int, batch_size: int = 64, device=None) -> np.ndarray:
    """(N, C) class probabilities (softmax) of a classifier over raw texts, batched by length."""
    from .data import TextData

    enc = encode(TextData(list(texts)), tok, None, max_length)
    return torch.softmax(predict_logits(model, enc, tok.pad_token_id, batch_size, device, max_length=max_length)
                         .float(), -1).numpy()
