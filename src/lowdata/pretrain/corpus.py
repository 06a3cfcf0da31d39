"""Pretraining corpus: stream documents, drop duplicates, hold some out, tokenize with word ids, pack, store on disk.

    docs = iter_documents(cfg.corpus)                      # (where, [paragraph, ...]) one document at a time
    meta = build(cfg, tok, "runs/pt/data")                 # packed sequences in memory-mapped .bin files
    seqs = Packed("runs/pt/data/train")                    # seqs[i] -> (ids, word_ids, token_types, nsp label)

Streaming: documents are read, tokenized and packed 1,000 at a time and appended to disk, so memory holds one chunk,
an 8-byte hash per document (exact deduplication) and, for NSP, a buffer of recent documents.

Packing. MLM only: RoBERTa's FULL-SENTENCES (Liu et al. 2019): whole sentences are packed into sequences of up to
`max_length` tokens; a sentence is split only when it is longer than a sequence; a [SEP] marks each document
boundary. NSP / SOP: BERT's create_pretraining_data (Devlin et al. 2019): a document is cut into chunks of about
`max_length` tokens, each chunk into segment A (the first 1..n-1 sentences) and B (the rest); NSP replaces B by text
from a random other document half of the time (label 1), SOP (ALBERT, Lan et al. 2020) swaps A and B half of the time
(label 1). Deviations: the random document comes from a buffer of the last 10,000 documents (streaming) rather than
the whole corpus, and a one-sentence chunk is cut at a random token to make A and B (short texts such as reviews
are often one sentence); BERT's 10% of shorter target lengths is kept.

Word ids (for whole-word masking): English words are the tokenizer's pre-tokenization (BERT: whitespace and
punctuation; SentencePiece: Metaspace), so a word's pieces share an id; Chinese words come from jieba (Cui et al.
2019 used LTP), so the characters of one word share an id. Special tokens get -1.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
from collections import deque

import numpy as np

from ..data.schema import DataError, json_loads

_SENT = re.compile(r"(?<=[.!?])\s+(?=[\"'“‘(\[A-Z0-9])|(?<=[。！？；])")
_CJK = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]")
CHUNK = 1000


def guess_format(path: str, fmt: str | None) -> str:
    if fmt:
        return fmt
    if path.startswith("hf:"):
        return "hf"
    return "jsonl" if path.endswith((".jsonl", ".json")) else "text"


def iter_documents(cc):
    """Yield (where, paragraphs) per document from every path of a CorpusConfig, streaming."""
    if not cc.paths:
        raise DataError("corpus.paths is empty: give one or more text/JSONL files or hf:<dataset>")
    n = 0
    for path in cc.paths:
        fmt = guess_format(path, cc.format)
        it = {"text": _text_docs, "jsonl": _jsonl_docs, "hf": _hf_docs}.get(fmt)
        if it is None:
            raise DataError(f"{path}: unknown corpus format {fmt!r} (expected text, jsonl or hf)")
        for doc in it(path, cc):
            if doc[1]:
                yield doc
                n += 1
                if cc.max_documents and n >= cc.max_documents:
                    return


def _open(path: str, encoding: str = "utf-8"):
    if not os.path.exists(path):
        raise DataError(f"{path}: corpus file not found")
    return open(path, encoding="utf-8-sig" if encoding.lower() in ("utf-8", "utf8") else encoding, newline=None)


def _lines(path: str, encoding: str):
    """Numbered lines; a decoding error names the line and the corpus.encoding setting."""
    i = 0
    try:
        with _open(path, encoding) as f:
            for i, line in enumerate(f, 1):
                yield i, line
    except UnicodeDecodeError as e:
        with open(path, "rb") as f:  # the line of the bad byte: count newlines in the text before it
            n = 0
            for n, raw in enumerate(f, 1):
                try:
                    raw.decode(encoding)
                except UnicodeDecodeError:
                    break
        raise DataError(f"{path}: line {n}: not valid {encoding} ({e.reason}); set corpus.encoding "
                        f"(e.g. latin-1)") from None


def _text_docs(path, cc):
    mode = cc.documents
    if mode == "auto":  # BERT's convention when the file has blank lines, else one document per line
        head = "".join(line for _, (_, line) in zip(range(20000), _lines(path, cc.encoding)))
        mode = "blank_line" if re.search(r"\n[ \t]*\n", head.strip()) else "line"
    if mode not in ("line", "blank_line"):
        raise DataError(f"corpus.documents: expected line, blank_line or auto, got {mode!r}")
    doc, start = [], 1
    for i, line in _lines(path, cc.encoding):
        line = line.strip()
        if mode == "line":
            if line:
                yield f"{path}:{i}", [line]
        elif line:
            if not doc:
                start = i
            doc.append(line)
        elif doc:
            yield f"{path}:{start}", doc
            doc = []
    if doc:
        yield f"{path}:{start}", doc


def _jsonl_docs(path, cc):
    for i, line in _lines(path, cc.encoding):
        if not line.strip():
            continue
        try:
            obj = json_loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: line {i}: invalid JSON ({e.msg})") from None
        if not isinstance(obj, dict) or cc.text_field not in obj:
            raise DataError(f"{path}: line {i}: expected an object with a {cc.text_field!r} field")
        text = str(obj[cc.text_field]).strip()
        yield f"{path}:{i}", [p.strip() for p in text.split("\n") if p.strip()]


def _hf_docs(path, cc):
    import datasets

    name = path[3:] if path.startswith("hf:") else path
    ds = datasets.load_from_disk(name) if os.path.isdir(name) else datasets.load_dataset(name, split="train",
                                                                                       streaming=True)
    if isinstance(ds, datasets.DatasetDict):
        ds = ds["train"]
    for i, row in enumerate(ds):
        if cc.text_field not in row:
            raise DataError(f"{name}: row {i}: no {cc.text_field!r} column (have {', '.join(row)})")
        text = str(row[cc.text_field]).strip()
        yield f"{name}[{i}]", [p.strip() for p in text.split("\n") if p.strip()]


def is_chinese(text: str) -> bool:
    letters = sum(c.isalpha() for c in text)
    return letters > 0 and len(_CJK.findall(text)) * 2 > letters


def sentences(paragraphs: list[str]) -> list[str]:
    """Rule-based sentence split (., !, ? before a capital; Chinese 。！？；). Approximate, like any regex splitter."""
    return [s.strip() for p in paragraphs for s in _SENT.split(p) if s and s.strip()]


class Segmenter:
    """Sentence -> words: jieba for Chinese, the tokenizer's own pre-tokenizer (or whitespace) otherwise."""

    def __init__(self, tok, language: str = "auto"):
        self.language = language
        self.pre = getattr(getattr(tok, "backend_tokenizer", None), "pre_tokenizer", None)

    def __call__(self, sent: str) -> list[str]:
        zh = self.language == "zh" or (self.language == "auto" and is_chinese(sent))
        if zh:
            import jieba

            jieba.setLogLevel(60)
            return [w for w in jieba.lcut(sent) if w.strip()]
        if self.pre is not None:  # a SentencePiece pre-tokenizer (Metaspace) marks word starts with U+2581: drop
            # it, or each word fed back with is_split_into_words would get a second one
            return [w.lstrip("\u2581") for w, _ in self.pre.pre_tokenize_str(sent) if w.strip("\u2581")]
        return sent.split()


def _doc_key(paragraphs: list[str]) -> bytes:
    return hashlib.blake2b(" ".join(" ".join(paragraphs).lower().split()).encode(), digest_size=8).digest()


class Writer:
    """Appends sequences to <dir>/{ids,wids,types}.bin (int32/int32/int8) + offsets; metadata in meta.json."""

    def __init__(self, path: str):
        os.makedirs(path, exist_ok=True)
        self.path = path
        self.f = {k: open(os.path.join(path, f"{k}.bin.tmp"), "wb") for k in ("ids", "wids", "types")}
        self.offsets, self.nsp, self.tokens = [0], [], 0

    def add(self, ids, wids, types, nsp=-1):
        np.asarray(ids, np.int32).tofile(self.f["ids"])
        np.asarray(wids, np.int32).tofile(self.f["wids"])
        np.asarray(types, np.int8).tofile(self.f["types"])
        self.offsets.append(self.offsets[-1] + len(ids))
        self.nsp.append(nsp)

    def close(self) -> int:
        for k, f in self.f.items():
            f.close()
            os.replace(f.name, os.path.join(self.path, f"{k}.bin"))
        np.save(os.path.join(self.path, "offsets.npy"), np.asarray(self.offsets, np.int64))
        np.save(os.path.join(self.path, "nsp.npy"), np.asarray(self.nsp, np.int8))
        return len(self.nsp)


class Packed:
    """Memory-mapped packed sequences written by `build`."""

    def __init__(self, path: str):
        self.offsets = np.load(os.path.join(path, "offsets.npy"))
        self.nsp = np.load(os.path.join(path, "nsp.npy"))
        n = int(self.offsets[-1])
        mm = lambda k, dt: np.memmap(os.path.join(path, f"{k}.bin"), dtype=dt, mode="r", shape=(n,)) if n else \
            np.zeros(0, dt)  # noqa: E731
        self.ids, self.wids, self.types = mm("ids", np.int32), mm("wids", np.int32), mm("types", np.int8)

    def __len__(self):
        return len(self.nsp)

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __getitem__(self, i):
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.ids[a:b], self.wids[a:b], self.types[a:b], int(self.nsp[i])


class Packer:
    """Documents of (ids, word_ids) sentences -> sequences on a Writer (see the module docstring)."""

    def __init__(self, tok, max_length: int, sentence: str | None, seed: int):
        self.tok, self.L, self.sentence = tok, max_length, sentence
        self.cls, self.sep = tok.cls_token_id, tok.sep_token_id
        self.rng = random.Random(seed)
        self.buf_ids, self.buf_wids = [], []
        self.recent = deque(maxlen=10000)  # NSP: recent documents to draw random segments from

    def add_document(self, sents, out: Writer):
        if self.sentence:
            self._pairs(sents, out)
            self.recent.append(sents)
            return
        room = self.L - 2
        if self.buf_ids:  # document boundary: a [SEP] (RoBERTa FULL-SENTENCES)
            if len(self.buf_ids) + 1 >= room:
                self.flush(out)
            else:
                self.buf_ids.append(self.sep)
                self.buf_wids.append(-1)
        for ids, wids in sents:
            if len(ids) > room:  # longer than a sequence: its own pieces
                self.flush(out)
                for s in range(0, len(ids), room):
                    self.buf_ids, self.buf_wids = list(ids[s:s + room]), list(wids[s:s + room])
                    self.flush(out)
                continue
            if len(self.buf_ids) + len(ids) > room:
                self.flush(out)
            self.buf_ids += ids
            self.buf_wids += wids

    def flush(self, out: Writer):
        while self.buf_ids and self.buf_ids[-1] == self.sep:
            self.buf_ids.pop()
            self.buf_wids.pop()
        if self.buf_ids:
            out.add([self.cls] + self.buf_ids + [self.sep], [-1] + self.buf_wids + [-1], [0] * (len(self.buf_ids) + 2))
        self.buf_ids, self.buf_wids = [], []

    def _pairs(self, sents, out: Writer):
        rng, room = self.rng, self.L - 3
        target = room if rng.random() >= 0.1 else rng.randint(2, max(2, room))  # BERT: short_seq_prob 0.1
        chunk, n, i = [], 0, 0
        while i < len(sents):
            chunk.append(sents[i])
            n += len(sents[i][0])
            if i == len(sents) - 1 or n >= target:
                a, b, label = self._split(chunk, target, rng)
                if a and b:
                    _truncate(a, b, room, rng)
                    ids = [self.cls] + [t for t, _ in a] + [self.sep] + [t for t, _ in b] + [self.sep]
                    wids = [-1] + [w for _, w in a] + [-1] + [w for _, w in b] + [-1]
                    types = [0] * (len(a) + 2) + [1] * (len(b) + 1)
                    out.add(ids, wids, types, label)
                chunk, n = [], 0
            i += 1

    def _split(self, chunk, target, rng):
        flat = lambda ss: [(t, w) for ids, wids in ss for t, w in zip(ids, wids)]  # noqa: E731
        if len(chunk) >= 2:
            cut = rng.randint(1, len(chunk) - 1)
            a, b = flat(chunk[:cut]), flat(chunk[cut:])
        else:
            toks = flat(chunk)
            if len(toks) < 2:
                return None, None, 0
            cut = rng.randint(1, len(toks) - 1)
            a, b = toks[:cut], toks[cut:]
        if self.sentence == "sop":
            return (b, a, 1) if rng.random() < 0.5 else (a, b, 0)
        if self.recent and rng.random() < 0.5:  # NSP: B from a random other document
            other = self.recent[rng.randrange(len(self.recent))]
            start = rng.randrange(len(other))
            b = flat(other[start:])[: max(1, target - len(a))]
            return a, b, 1
        return a, b, 0


def _truncate(a, b, room, rng):
    """BERT's truncate_seq_pair: trim the longer segment, from the front or back at random."""
    while len(a) + len(b) > room:
        x = a if len(a) > len(b) else b
        x.pop(0) if rng.random() < 0.5 else x.pop()


def tokenize_docs(docs: list[list[str]], tok, seg: Segmenter, word_base: int):
    """[[paragraph]] -> [[(ids, word_ids)] per sentence] per document; word ids count up from word_base."""
    sents = [sentences(d) for d in docs]
    flat = [seg(s) for ss in sents for s in ss]
    keep = [i for i, w in enumerate(flat) if w]
    enc = tok([flat[i] for i in keep], is_split_into_words=True, add_special_tokens=False) if keep else None
    by_sent = {}
    for j, i in enumerate(keep):
        ids = enc["input_ids"][j]
        wids = [word_base + (w if w is not None else 0) for w in enc.word_ids(j)]
        word_base += len(flat[i])
        if ids:
            by_sent[i] = (ids, wids)
    out, k = [], 0
    for ss in sents:
        out.append([by_sent[i] for i in range(k, k + len(ss)) if i in by_sent])
        k += len(ss)
    return out, word_base


def build(pc, tok, path: str, progress: bool = True) -> dict:
    """Stream the corpus of a PretrainConfig into packed train/heldout sequences under `path` (reused when its
    meta.json matches the same corpus, tokenizer, length and objective)."""
    from tqdm.auto import tqdm

    key = hashlib.sha1(json.dumps([vars(pc.corpus), pc.model.max_length, pc.objective.sentence, pc.train.seed,
                                   len(tok), tok.name_or_path], sort_keys=True, default=str).encode()).hexdigest()
    meta_path = os.path.join(path, "meta.json")
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        if meta.get("key") == key:
            return meta
    seg = Segmenter(tok, pc.corpus.language)
    writers = {"train": Writer(os.path.join(path, "train")), "heldout": Writer(os.path.join(path, "heldout"))}
    packers = {k: Packer(tok, pc.model.max_length, pc.objective.sentence, pc.train.seed + j)
               for j, k in enumerate(writers)}
    seen, stats = set(), {"documents": 0, "duplicates": 0, "heldout_documents": 0}
    word_base = 0
    bar = tqdm(desc="corpus", unit=" docs", disable=not progress, dynamic_ncols=True)

    def flush_chunk(chunk):
        nonlocal word_base
        if not chunk:
            return
        toks, word_base = tokenize_docs([d for _, d in chunk], tok, seg, word_base % (1 << 30))
        for (split, _), sents in zip(chunk, toks):
            if sents:
                packers[split].add_document(sents, writers[split])
        bar.update(len(chunk))

    chunk = []
    cut = int(round(pc.corpus.heldout * 10000))
    for where, doc in iter_documents(pc.corpus):
        k = _doc_key(doc)
        if pc.corpus.dedup:
            if k in seen:
                stats["duplicates"] += 1
                continue
            seen.add(k)
        stats["documents"] += 1
        held = int.from_bytes(k[:4], "little") % 10000 < cut
        stats["heldout_documents"] += held
        chunk.append(("heldout" if held else "train", doc))
        if len(chunk) >= CHUNK:
            flush_chunk(chunk)
            chunk = []
    flush_chunk(chunk)
    bar.close()
    for split in writers:
        packers[split].flush(writers[split])
        stats[f"{split}_sequences"] = writers[split].close()
        stats[f"{split}_tokens"] = int(writers[split].offsets[-1])
    if stats["train_sequences"] == 0:
        raise DataError(f"{', '.join(pc.corpus.paths)}: no training text after deduplication and hold-out")
    meta = {"key": key, **stats}
    tmp = meta_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(meta, f, indent=1)
    os.replace(tmp, meta_path)
    return meta
