"""Readers: one `read(path)` for every supported format, returning TextData or TokenData.

    from lowdata.data import read
    train = read("train.csv")                         # header auto-detected, text/label columns guessed
    sst = read("stsa.binary.train", format="label_text")   # "1 a stirring , funny ..." lines
    ner = read("train.conll")                         # token ... tag columns, blank-line separated

Formats: csv, tsv (with or without header; also "label<TAB>text"), jsonl, label_text ("label text"),
conll (token first, tag last or `tag_column`; blank or tab-only lines separate sentences; BIO/BIOES/BMES
tags normalised to BIO), hf (Hugging Face `datasets`: a hub name, a saved folder, or a Dataset object).
Every failure raises DataError naming the file, the line and what was expected.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re

from .schema import DataError, TextData, TokenData

FORMATS = ("csv", "tsv", "jsonl", "label_text", "conll", "hf")
TEXT_NAMES = ("text", "sentence", "sentence1", "content", "review", "utterance", "query", "question", "text_a")
LABEL_NAMES = ("label", "labels", "category", "class", "intent", "target", "y")
TOKEN_NAMES = ("tokens", "words", "chars")
TAG_NAMES = ("tags", "ner_tags", "labels", "label")
_TAG = re.compile(r"^(O|[BIESM]-\S+)$")


def read(path, format: str | None = None, task: str = "classify", text_column=None, label_column=None,
         header: bool | None = None, tag_column: int = -1, encoding: str = "utf-8", labeled: bool = True,
         split: str = "train"):
    """Read a dataset file (or Hugging Face dataset) into TextData (task="classify") or TokenData (task="ner")."""
    if task not in ("classify", "ner"):
        raise DataError(f"unknown task {task!r} (expected 'classify' or 'ner')")
    if format == "hf" or not isinstance(path, (str, os.PathLike)):
        return from_hf(path, split=split, task=task, text_column=text_column, label_column=label_column)
    path = str(path)
    if format is not None and format not in FORMATS:
        raise DataError(f"unknown format {format!r} (expected one of {', '.join(FORMATS)})", path)
    if not os.path.exists(path):
        raise DataError("file not found", path)
    text = _decode(path, encoding)
    fmt = format or _sniff(path, text)
    if fmt == "conll":
        return _read_conll(path, text, tag_column, labeled)
    if fmt == "jsonl":
        return _read_jsonl(path, text, task, text_column, label_column, labeled)
    if fmt == "label_text":
        return _read_label_text(path, text, labeled)
    return _read_delimited(path, text, "," if fmt == "csv" else "\t", task, text_column, label_column, header,
                           labeled)


def _decode(path: str, encoding: str) -> str:
    with open(path, "rb") as f:
        raw = f.read()
    if not raw.strip():
        raise DataError("file is empty (expected at least one example)", path)
    try:
        text = raw.decode("utf-8-sig" if encoding.lower().replace("_", "-") == "utf-8" else encoding)
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(f"undecodable bytes {raw[e.start:e.end]!r} (expected {encoding} text; "
                        f"pass encoding=... if the file uses another encoding)", path, line) from None
    # U+FEFF inside a file is a byte-order mark left by concatenating files (WNUT-17 has one): drop it.
    return text.replace("\ufeff", "").replace("\r\n", "\n").replace("\r", "\n")


def _lines(text: str) -> list[str]:
    # str.splitlines would also split on \x1c, \u2028 ... inside a text; only \n is a line break here.
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def _sniff(path: str, text: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext in (".csv",):
        return "csv"
    if ext in (".tsv",):
        return "tsv"
    if ext in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if ext in (".conll", ".bio", ".bmes", ".bioes", ".iob"):
        return "conll"
    lines = [ln for ln in _lines(text)[:200]]
    nonblank = [ln for ln in lines if ln.strip()]
    if nonblank and nonblank[0].lstrip().startswith("{"):
        return "jsonl"
    tagged = sum(1 for ln in nonblank if len(ln.split()) >= 2 and _TAG.match(ln.split()[-1]))
    if nonblank and tagged >= 0.9 * len(nonblank):
        return "conll"
    if nonblank and "\t" in nonblank[0]:
        return "tsv"
    return "label_text"


def _read_label_text(path: str, text: str, labeled: bool) -> TextData:
    texts, labels, lines = [], [], []
    for no, ln in enumerate(_lines(text), 1):
        if not ln.strip():
            continue
        parts = ln.strip().split(None, 1)
        if len(parts) < 2:
            raise DataError(f"expected 'label text', found only {parts[0][:40]!r}", path, no)
        labels.append(parts[0])
        texts.append(parts[1])
        lines.append(no)
    return TextData(texts, labels if labeled else None, source=path, lines=lines)


def _pick(names: list[str], wanted, defaults, what: str, path: str):
    """Resolve a column given by name, index or not at all (then the first default present)."""
    if isinstance(wanted, int):
        if not -len(names) <= wanted < len(names):
            raise DataError(f"{what} column index {wanted} out of range ({len(names)} columns)", path, 1)
        return wanted % len(names)
    if wanted is not None:
        if wanted not in names:
            raise DataError(f"missing {what} column {wanted!r} (columns: {names})", path, 1)
        return names.index(wanted)
    for d in defaults:
        if d in names:
            return names.index(d)
    raise DataError(f"no {what} column found (columns: {names}; expected one of {list(defaults)} "
                    f"or set {what}_column)", path, 1)


def _read_delimited(path, text, delim, task, text_column, label_column, header, labeled):
    csv.field_size_limit(1 << 30)  # a 1 MB line is a legal example
    rows = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim,
                        quoting=csv.QUOTE_MINIMAL if delim == "," else csv.QUOTE_NONE)
    try:
        for row in reader:
            rows.append((reader.line_num, row))
    except csv.Error as e:
        raise DataError(f"malformed {'CSV' if delim == ',' else 'TSV'}: {e}", path, reader.line_num) from None
    rows = [(n, r) for n, r in rows if any(c.strip() for c in r)]
    if not rows:
        raise DataError("file has no rows", path)
    first = [c.strip() for c in rows[0][1]]
    if header is None:
        known = set(TEXT_NAMES + LABEL_NAMES + TOKEN_NAMES + TAG_NAMES)
        known |= {c for c in (text_column, label_column) if isinstance(c, str)}
        header = any(c.lower() in known for c in first)
    if header:
        names, rows = first, rows[1:]
        if not rows:
            raise DataError("file has a header but no examples", path)
    else:
        names = [str(i) for i in range(len(first))]
        if len(first) == 2 and text_column is None and label_column is None:
            # "label<TAB>text" or "text<TAB>label": the text column is the longer one on average.
            mean = [sum(len(r[i]) for _, r in rows[:200] if len(r) > i) for i in range(2)]
            text_column, label_column = (1, 0) if mean[1] >= mean[0] else (0, 1)
        text_column = 0 if text_column is None else int(text_column)
        if label_column is None and labeled:
            label_column = 1 if len(first) > 1 else None
        label_column = None if label_column is None else int(label_column)
    tnames = TOKEN_NAMES + TEXT_NAMES if task == "ner" else TEXT_NAMES
    lnames = TAG_NAMES if task == "ner" else LABEL_NAMES
    ti = _pick(names, text_column, tnames, "text", path)
    li = None
    if labeled and (label_column is not None or header):
        li = _pick(names, label_column, lnames, "label", path)
    texts, labels, lines = [], [], []
    need = max(ti, li if li is not None else 0) + 1
    for no, r in rows:
        if len(r) < need:
            raise DataError(f"expected at least {need} columns, found {len(r)}", path, no)
        texts.append(r[ti])
        if li is not None:
            labels.append(r[li].strip())
        lines.append(no)
    lab = labels if li is not None else None
    if task == "ner":
        toks = [t.split() for t in texts]
        tags = [normalize_tags(s.split()) for s in lab] if lab is not None else None
        return TokenData(toks, tags, source=path, lines=lines)
    return TextData(texts, lab, source=path, lines=lines)


def _read_jsonl(path, text, task, text_column, label_column, labeled):
    recs, lines = [], []
    stripped = text.lstrip()
    if stripped.startswith("["):  # a JSON array of records
        try:
            recs = json.loads(stripped)
        except json.JSONDecodeError as e:
            raise DataError(f"invalid JSON: {e.msg}", path, e.lineno) from None
        lines = list(range(1, len(recs) + 1))
    else:
        for no, ln in enumerate(_lines(text), 1):
            if not ln.strip():
                continue
            try:
                recs.append(json.loads(ln))
            except json.JSONDecodeError as e:
                raise DataError(f"invalid JSON ({e.msg}); expected one JSON object per line", path, no) from None
            lines.append(no)
    if not recs:
        raise DataError("file has no records", path)
    tnames = TOKEN_NAMES if task == "ner" else TEXT_NAMES
    lnames = TAG_NAMES if task == "ner" else LABEL_NAMES
    inputs, targets = [], []
    for rec, no in zip(recs, lines):
        if not isinstance(rec, dict):
            raise DataError(f"expected a JSON object, found {type(rec).__name__}", path, no)
        tk = text_column or next((k for k in tnames if k in rec), None)
        if tk is None or tk not in rec:
            raise DataError(f"missing text field (expected one of {list(tnames)}; keys: {list(rec)})", path, no)
        inputs.append(rec[tk])
        if labeled:
            lk = label_column or next((k for k in lnames if k in rec), None)
            if lk is None or lk not in rec:
                raise DataError(f"missing label field (expected one of {list(lnames)}; keys: {list(rec)})",
                                path, no)
            targets.append(rec[lk])
    tg = targets if labeled else None
    if task == "ner":
        for x, no in zip(inputs, lines):
            if not isinstance(x, list):
                raise DataError("expected a list of tokens", path, no)
        tg = [normalize_tags([str(t) for t in s]) for s in tg] if tg is not None else None
        return TokenData([[str(t) for t in x] for x in inputs], tg, source=path, lines=lines)
    for x, no in zip(inputs, lines):
        if not isinstance(x, str):
            raise DataError(f"expected the text to be a string, found {type(x).__name__}", path, no)
    return TextData(inputs, tg, source=path, lines=lines)


def _read_conll(path, text, tag_column, labeled):
    sents, tags, starts = [], [], []
    cur_t, cur_g, start = [], [], None

    def flush():
        nonlocal cur_t, cur_g, start
        if cur_t:
            sents.append(cur_t)
            tags.append(normalize_tags(cur_g, path, start))
            starts.append(start)
        cur_t, cur_g, start = [], [], None

    for no, ln in enumerate(_lines(text), 1):
        if not ln.strip():  # blank or tab-only line: sentence boundary
            flush()
            continue
        cols = ln.split("\t") if "\t" in ln.strip() else ln.split()
        cols = [c for c in cols if c != ""] if "\t" not in ln.strip() else [c.strip() for c in cols]
        if cols[0].startswith("-DOCSTART-"):
            flush()
            continue
        if labeled and len(cols) < 2:
            raise DataError(f"expected 'token ... tag' columns, found {len(cols)} column", path, no)
        tag = cols[tag_column] if labeled else "O"
        if labeled and not _TAG.match(tag):
            raise DataError(f"bad tag {tag!r} (expected O, or B-/I-/E-/S-/M- followed by a type)", path, no)
        if start is None:
            start = no
        cur_t.append(cols[0])
        cur_g.append(tag)
    flush()
    if not sents:
        raise DataError("no sentences found (expected 'token ... tag' lines)", path)
    return TokenData(sents, tags if labeled else None, source=path, lines=starts)


def normalize_tags(tags: list[str], path: str | None = None, line: int | None = None) -> list[str]:
    """BIOES / BMES / IOB1 -> BIO (IOB2). S-X -> B-X, E-X/M-X -> I-X, and an I-X that starts an entity -> B-X."""
    out, prev = [], "O"
    for t in tags:
        if t == "O":
            out.append("O")
            prev = "O"
            continue
        if not _TAG.match(t):
            raise DataError(f"bad tag {t!r} (expected O or a B-/I-/E-/S-/M- prefixed type)", path, line)
        p, typ = t[0], t[2:]
        if p in "BS":
            new = "B-" + typ
        elif prev in ("I-" + typ, "B-" + typ):
            new = "I-" + typ
        else:
            new = "B-" + typ
        out.append(new)
        prev = new
        if p in "ES":  # an entity ends here; a following I-/M- of the same type starts a new one
            prev = "O"
    return out


def from_hf(source, split: str = "train", task: str = "classify", text_column=None, label_column=None):
    """A Hugging Face dataset (hub name, `save_to_disk` folder, or a Dataset object) -> TextData/TokenData.
    ClassLabel features are mapped to their names."""
    import datasets

    ds = source
    if isinstance(source, (str, os.PathLike)):
        p = str(source)
        ds = datasets.load_from_disk(p) if os.path.isdir(p) else datasets.load_dataset(p)
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise DataError(f"split {split!r} not found (splits: {list(ds)})", str(source))
        ds = ds[split]
    cols = ds.column_names
    tnames = TOKEN_NAMES if task == "ner" else TEXT_NAMES
    lnames = TAG_NAMES if task == "ner" else LABEL_NAMES
    tc = text_column or next((c for c in tnames if c in cols), None)
    lc = label_column or next((c for c in lnames if c in cols), None)
    if tc not in cols:
        raise DataError(f"missing text column (expected one of {list(tnames)}; columns: {cols})", str(source))
    feat = ds.features.get(lc) if lc in cols else None
    if task == "ner":
        inner = getattr(feat, "feature", None)
        names = getattr(inner, "names", None)
        tags = None
        if lc in cols:
            tags = [normalize_tags([names[t] if names else str(t) for t in s]) for s in ds[lc]]
        return TokenData([list(map(str, t)) for t in ds[tc]], tags, source=str(source))
    names = getattr(feat, "names", None)
    labels = None
    if lc in cols:
        labels = [names[y] if names else str(y) for y in ds[lc]]
    return TextData(list(ds[tc]), labels, source=str(source))


def to_hf(data):
    """TextData/TokenData -> datasets.Dataset with columns text/label or tokens/tags."""
    import datasets

    if data.task == "ner":
        d = {"tokens": data.tokens}
        if data.tags is not None:
            d["tags"] = data.tags
    else:
        d = {"text": data.texts}
        if data.labels is not None:
            d["label"] = data.labels
    return datasets.Dataset.from_dict(d)
