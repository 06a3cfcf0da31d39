"""Readers: one `read(path)` for every supported format, returning TextData or TokenData.

    from lowdata.data import read
    train = read("train.csv")                         # header auto-detected, text/label columns guessed
    sst = read("stsa.binary.train", format="label_text")   # "1 a stirring , funny ..." lines
    ner = read("train.conll")                         # token ... tag columns, blank-line separated

Formats: csv, tsv (with or without header; also "label<TAB>text"), jsonl, label_text ("label text"),
text (one text per line, no label: unlabeled pools and texts to predict), conll (token first, tag last or
`tag_column`; blank or tab-only lines separate sentences; BIO/BIOES/BMES tags normalised to BIO), hf (Hugging Face
`datasets`: a hub name, a saved folder, or a Dataset object).
Every failure raises DataError naming the file, the line and what was expected.

Guessing (format=None): the extension decides (.csv .tsv .jsonl/.json .conll/.bio/...); otherwise the content.
Unlabeled reads (labeled=False) of any other file take one text per line (format text), so no word of a pool is
ever taken for a label. A labeled file without a telling extension is read as label_text only when its first
words look like labels (few distinct values), and a note on stderr says which format was assumed.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import sys

from .schema import DataError, TextData, TokenData, json_loads

FORMATS = ("csv", "tsv", "jsonl", "label_text", "text", "conll", "hf")
CONLL_EXTS = (".conll", ".bio", ".bmes", ".bioes", ".iob")  # read as CoNLL by extension
_NOTED: set = set()
TEXT_NAMES = ("text", "sentence", "sentence1", "content", "review", "utterance", "query", "question", "text_a")
LABEL_NAMES = ("label", "labels", "category", "class", "intent", "target", "y")
TOKEN_NAMES = ("tokens", "words", "chars")
TAG_NAMES = ("tags", "ner_tags", "labels", "label")
_TAG = re.compile(r"^(O|[BIESM]-\S+)$")


def read(path, format: str | None = None, task: str | None = None, text_column=None, label_column=None,
         header: bool | None = None, tag_column: int = -1, encoding: str = "utf-8", labeled: bool = True,
         split: str = "train"):
    """Read a dataset file (or Hugging Face dataset) into TextData (task="classify") or TokenData (task="ner").
    task=None: NER for CoNLL files, classification otherwise; a given task that the file does not fit (a CoNLL file
    with task="classify", as a config's default task would be) raises DataError."""
    if task not in (None, "classify", "ner"):
        raise DataError(f"unknown task {task!r} (expected 'classify' or 'ner')")
    if format == "hf" or not isinstance(path, (str, os.PathLike)):
        return from_hf(path, split=split, task=task or "classify", text_column=text_column, label_column=label_column)
    path = str(path)
    if format is not None and format not in FORMATS:
        raise DataError(f"unknown format {format!r} (expected one of {', '.join(FORMATS)})", path)
    if not os.path.exists(path):
        raise DataError("file not found", path)
    if os.path.isdir(path):
        raise DataError("is a folder (expected a data file; a saved Hugging Face dataset needs format=hf)", path)
    text = _decode(path, encoding)
    fmt = format or _sniff(path, text, labeled)
    if fmt == "text" and labeled:
        raise DataError("format text holds no labels (one text per line); a labeled file needs csv, tsv, jsonl, "
                        "label_text or conll", path)
    if task is None:
        task = "ner" if fmt == "conll" else "classify"
    if fmt == "conll" and task != "ner":
        raise DataError("reads as CoNLL token/tag lines, which is NER data, but the task is classify: set "
                        "data.task=ner (lowdata augment --task ner), or data.format for a classification file", path)
    if fmt == "conll":
        return _read_conll(path, text, tag_column, labeled)
    if fmt == "jsonl":
        data = _read_jsonl(path, text, task, text_column, label_column, labeled)
    elif fmt == "label_text":
        if task == "ner":
            raise DataError("task ner needs token/tag data (CoNLL lines, or JSONL with tokens and tags); this file "
                            "reads as 'label text' lines: set data.format=conll if it is CoNLL", path)
        data = _read_label_text(path, text, labeled, guessed=format is None)
    elif fmt == "text":
        data = _read_plain(path, text, task)
    else:
        data = _read_delimited(path, text, "," if fmt == "csv" else "\t", task, text_column, label_column, header,
                               labeled)
    return data


def _note(path: str, message: str) -> None:
    """One line on stderr, once per file and message: a guess the user may want to override."""
    if (path, message) not in _NOTED:
        _NOTED.add((path, message))
        print(f"lowdata: note: {path}: {message}", file=sys.stderr, flush=True)


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


def _sniff(path: str, text: str, labeled: bool = True) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext in (".csv",):
        return "csv"
    if ext in (".tsv",):
        return "tsv"
    if ext in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if ext in CONLL_EXTS:
        return "conll"
    lines = [ln for ln in _lines(text)[:200]]
    nonblank = [ln for ln in lines if ln.strip()]
    if nonblank and nonblank[0].lstrip().startswith("{"):
        return "jsonl"
    tagged = sum(1 for ln in nonblank if len(ln.split()) >= 2 and _TAG.match(ln.split()[-1]))
    if nonblank and tagged >= 0.9 * len(nonblank):
        return "conll"
    if not labeled:  # a pool or texts to predict: one text per line, every word of it kept
        if ext not in ("", ".txt", ".text"):
            _note(path, "no format given; read as one text per line (set data.format / --format to change)")
        return "text"
    if nonblank and "\t" in nonblank[0]:
        _note(path, "no format given; read as tsv (set data.format / --format to change)")
        return "tsv"
    return "label_text"


def _read_plain(path: str, text: str, task: str):
    """One text per line (blank lines skipped); NER: one whitespace-tokenised sentence per line."""
    texts, lines = [], []
    for no, ln in enumerate(_lines(text), 1):
        if ln.strip():
            texts.append(ln.strip())
            lines.append(no)
    if task == "ner":
        return TokenData([t.split() for t in texts], None, source=path, lines=lines)
    return TextData(texts, None, source=path, lines=lines)


def _read_label_text(path: str, text: str, labeled: bool, guessed: bool = False) -> TextData:
    texts, labels, lines = [], [], []
    for no, ln in enumerate(_lines(text), 1):
        if not ln.strip():
            continue
        parts = ln.strip().split(None, 1)
        if len(parts) < 2:
            hint = " (this looks like one text per line: for unlabeled texts use data.unlabeled or format " \
                   "text)" if guessed else ""
            raise DataError(f"expected 'label text', found only {parts[0][:40]!r}{hint}", path, no)
        labels.append(parts[0])
        texts.append(parts[1])
        lines.append(no)
    if guessed and labeled:
        distinct = len(set(labels))
        if len(labels) >= 20 and distinct > len(labels) // 2:
            raise DataError(f"no format given, and the file does not look like 'label text' lines: {distinct} "
                            f"different first words in {len(labels)} lines (expected a few labels). Unlabeled "
                            f"texts belong in data.unlabeled; otherwise set data.format (csv, tsv, jsonl, "
                            f"label_text, conll)", path)
        _note(path, f"no format given; read as label_text (the first word of each line is its label: "
                    f"{distinct} labels); set data.format to change")
    return TextData(texts, labels if labeled else None, source=path, lines=lines)


def _index(v, what: str, path: str, width: int) -> int:
    """A column of a file without a header can only be given by its index."""
    try:
        return int(v)
    except (TypeError, ValueError):
        raise DataError(f"{what}_column {v!r} is a name, but the file has no header row; give the column's index "
                        f"(0 to {width - 1}) or add a header", path, 1) from None


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
    starts, end = {}, 0  # the line a row starts on: a quoted field may span lines
    try:
        for row in reader:
            rows.append((reader.line_num, row))
            starts[reader.line_num], end = end + 1, reader.line_num
    except csv.Error as e:
        raise DataError(f"malformed {'CSV' if delim == ',' else 'TSV'}: {e}", path, reader.line_num) from None
    rows = [(n, r) for n, r in rows if any(c.strip() for c in r)]
    if not rows:
        raise DataError("file has no rows", path)
    first = [c.strip() for c in rows[0][1]]
    while len(first) > 1 and not first[-1]:  # a trailing delimiter on the first row
        first = first[:-1]
    if header is None:
        known = set(TEXT_NAMES + LABEL_NAMES + TOKEN_NAMES + TAG_NAMES)
        known |= {c for c in (text_column, label_column) if isinstance(c, str)}
        header = any(c.lower() in known for c in first)
    head_line = rows[0][0]
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
        text_column = 0 if text_column is None else _index(text_column, "text", path, len(first))
        if label_column is None and labeled:
            label_column = 1 if len(first) > 1 else None
        label_column = None if label_column is None else _index(label_column, "label", path, len(first))
    tnames = TOKEN_NAMES + TEXT_NAMES if task == "ner" else TEXT_NAMES
    lnames = TAG_NAMES if task == "ner" else LABEL_NAMES
    ti = _pick(names, text_column, tnames, "text", path)
    li = None
    if labeled and (label_column is not None or header):
        li = _pick(names, label_column, lnames, "label", path)
    if labeled and li is None:
        raise DataError(f"expected a label and a text on each row; the first row has {len(first)} field (a text "
                        f"without a label, or an empty text?)", path, rows[0][0])
    for i in (ti, li):  # `text,text,label`: which text is meant cannot be known; taking the first would be a guess
        if header and i is not None and names.count(names[i]) > 1:
            raise DataError(f"column {names[i]!r} appears {names.count(names[i])} times in the header (expected each "
                            f"column name once)", path, head_line)
    texts, labels, lines = [], [], []
    width = len(first)  # every row has the header's (or the first row's) number of fields
    what = f"as in the header: {','.join(first)}" if header else "as in the first row"
    fix = "quote a field that holds a comma" if delim == "," else "a tab inside a text must be removed or the " \
          "file written as CSV with quoting"
    raw = text.split("\n") if delim == "," else []
    for no, r in rows:
        while len(r) > width and not r[-1].strip():  # trailing empty fields (a trailing delimiter) are harmless
            r = r[:-1]
        if len(r) != width:
            first_line = starts.get(no, no)
            if delim == "," and "\n".join(raw[first_line - 1:no]).count('"') % 2:
                span = "the end of the file" if no == end else f"line {no}"
                raise DataError(f"a '\"' opened on this line is not closed where the field should end: the field runs "
                                f"to {span}; expected {width} fields ({what})", path, first_line)
            raise DataError(f"expected {width} fields ({what}), found {len(r)}; {fix}", path, no)
        texts.append(r[ti])
        if li is not None:
            labels.append(r[li].strip())
        lines.append(no)
    lab = labels if li is not None else None
    if task == "ner":
        toks = [t.split() for t in texts]
        tags = [normalize_tags(s.split(), path, no) for s, no in zip(lab, lines)] if lab is not None else None
        return TokenData(toks, tags, source=path, lines=lines)
    return TextData(texts, lab, source=path, lines=lines)


def _read_jsonl(path, text, task, text_column, label_column, labeled):
    recs, lines = [], []
    stripped = text.lstrip()
    if stripped.startswith("["):  # a JSON array of records
        try:
            recs = json_loads(stripped)
        except json.JSONDecodeError as e:
            raise DataError(f"invalid JSON: {e.msg}", path, e.lineno) from None
        lines = list(range(1, len(recs) + 1))
    else:
        for no, ln in enumerate(_lines(text), 1):
            if not ln.strip():
                continue
            try:
                recs.append(json_loads(ln))
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
    if tg is not None and task == "classify":
        for y, no in zip(tg, lines):
            if isinstance(y, bool) or not isinstance(y, (str, int)):
                kind = "a list (multi-label data is not supported yet)" if isinstance(y, list) else \
                    f"{type(y).__name__} {y!r}"
                raise DataError(f"expected the label to be a string or an integer, found {kind}", path, no)
        tg = [str(y) for y in tg]
    if tg is not None and task == "ner":
        for y, no in zip(tg, lines):
            if not isinstance(y, list) or not all(isinstance(t, str) for t in y):
                raise DataError("expected the tags to be a list of strings (one per token)", path, no)
    if task == "ner":
        for x, no in zip(inputs, lines):
            if not isinstance(x, list):
                raise DataError("expected a list of tokens", path, no)
        tg = [normalize_tags(s, path, no) for s, no in zip(tg, lines)] if tg is not None else None
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
        try:  # datasets >= 3 runs no loading script, so a hub name cannot execute code here
            ds = datasets.load_from_disk(p) if os.path.isdir(p) else datasets.load_dataset(p)
        except (ConnectionError, FileNotFoundError, ValueError, OSError) as e:
            where = "a save_to_disk folder" if os.path.isdir(p) else "a Hugging Face hub dataset"
            raise DataError(f"cannot load it as {where} ({type(e).__name__}: {' '.join(str(e).split())[:200]}); "
                            f"offline, give a local file (csv, tsv, jsonl, ...) or a datasets.save_to_disk folder",
                            p) from None
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
