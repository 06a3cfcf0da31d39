"""Multi-label data: each text carries a set of labels (possibly several, possibly none).

    data = read_multilabel("train.tsv", label_sep=",", label_names="labels.txt", text_column=0, label_column=1)
    data = read_multilabel("train.csv", label_columns=["toxic", "insult"])     # one-hot 0/1 columns
    data = read_multilabel("train.jsonl")                                      # {"text": ..., "labels": [...]}
    labeled, rest = k_per_label(data, k=8, seed=0)      # at least k examples of every label

Three ways a file can hold label sets: a delimited label column ("joy,surprise"; `label_sep`), JSON lists in a JSONL
file, or one 0/1 column per label (`label_columns`). With `label_names` (a file, one name per line), labels that are
integers are line numbers in it (GoEmotions' `labels.txt`).
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass

import numpy as np

from .schema import DataError, TextData, json_loads


@dataclass
class MultiLabelData(TextData):
    """texts and label sets (tuples of label names, sorted)."""

    task = "multilabel"

    def __post_init__(self):
        self._check_texts()
        if self.labels is not None:
            self.labels = [tuple(sorted({str(y) for y in ys})) for ys in self.labels]
            for i, ys in enumerate(self.labels):
                if any(not y.strip() for y in ys):
                    raise DataError("empty label name in a label set", self.source, self.lines[i])

    def subset(self, idx, unlabeled: bool = False):
        texts, lines = [self.texts[i] for i in idx], [self.lines[i] for i in idx]
        if unlabeled or self.labels is None:
            return TextData(texts, None, self.source, lines)
        return MultiLabelData(texts, [self.labels[i] for i in idx], self.source, lines)

    def label_set(self) -> list[str]:
        return sorted({y for ys in (self.labels or []) for y in ys})

    def multi_hot(self, names: list[str]) -> np.ndarray:
        """(N, C) 0/1 matrix over `names`; a label outside `names` raises DataError with its line."""
        index = {n: i for i, n in enumerate(names)}
        Y = np.zeros((len(self), len(names)), np.float32)
        for r, ys in enumerate(self.labels):
            for y in ys:
                if y not in index:
                    raise DataError(f"label {y!r} is absent from the training labels ({len(names)}: "
                                    f"{', '.join(names[:10])}{' ...' if len(names) > 10 else ''})", self.source,
                                    self.lines[r])
                Y[r, index[y]] = 1
        return Y


def _names(path: str | None) -> list[str] | None:
    if not path:
        return None
    if not os.path.exists(path):
        raise DataError("label names file not found (expected one label name per line)", path)
    with open(path, encoding="utf-8") as f:
        names = [ln.strip() for ln in f if ln.strip()]
    if not names:
        raise DataError("no label names (expected one per line)", path)
    return names


def _split(raw: str, sep: str, names: list[str] | None, path: str, line: int) -> list[str]:
    out = []
    for part in raw.split(sep) if raw.strip() else []:
        y = part.strip()
        if not y:
            raise DataError(f"empty label in {raw!r} (labels separated by {sep!r})", path, line)
        if names is not None and y.isdigit():
            if int(y) >= len(names):
                raise DataError(f"label id {y} is past the {len(names)} label names", path, line)
            y = names[int(y)]
        out.append(y)
    return out


def read_multilabel(path: str, format: str | None = None, text_column=None, label_column=None,
                    label_columns: list | None = None, label_sep: str = ",", label_names: str | None = None,
                    header: bool | None = None, encoding: str = "utf-8") -> MultiLabelData:
    from .readers import read

    if not os.path.exists(path):
        raise DataError("file not found", path)
    names = _names(label_names)
    ext = os.path.splitext(path)[1].lower()
    fmt = format or ("jsonl" if ext in (".jsonl", ".json", ".ndjson") else "csv" if ext == ".csv" else "tsv")
    if label_columns:
        return _read_one_hot(path, fmt, text_column, list(label_columns), encoding)
    if fmt == "jsonl":
        return _read_jsonl(path, text_column, label_column, label_sep, names, encoding)
    if fmt not in ("csv", "tsv"):
        raise DataError(f"multi-label data: format {fmt!r} is not supported (expected tsv, csv or jsonl)", path)
    flat = read(path, format=fmt, task="classify", text_column=text_column, label_column=label_column,
                header=header, encoding=encoding)
    sets = [_split(raw, label_sep, names, path, ln) for raw, ln in zip(flat.labels, flat.lines)]
    return MultiLabelData(flat.texts, sets, path, flat.lines)


def _read_jsonl(path, text_column, label_column, sep, names, encoding) -> MultiLabelData:
    texts, sets, lines = [], [], []
    tkey, lkeys = text_column or "text", [label_column] if label_column else ["labels", "label"]
    with open(path, encoding=encoding) as f:
        for no, ln in enumerate(f, 1):
            if not ln.strip():
                continue
            try:
                rec = json_loads(ln)
            except json.JSONDecodeError as e:
                raise DataError(f"invalid JSON ({e.msg}); expected one JSON object per line", path, no) from None
            if not isinstance(rec, dict) or not isinstance(rec.get(tkey), str):
                raise DataError(f"expected an object with a text field {tkey!r}", path, no)
            key = next((k for k in lkeys if k in rec), None)
            if key is None:
                raise DataError(f"no label field (expected one of {lkeys})", path, no)
            v = rec[key]
            if isinstance(v, str):
                ys = _split(v, sep, names, path, no)
            elif isinstance(v, list) and all(isinstance(y, (str, int)) and not isinstance(y, bool) for y in v):
                ys = _split(sep.join(str(y) for y in v), sep, names, path, no) if v else []
            else:
                raise DataError(f"{key!r}: expected a list of label names (or a {sep!r}-separated string)", path, no)
            texts.append(rec[tkey])
            sets.append(ys)
            lines.append(no)
    if not texts:
        raise DataError("file has no records", path)
    return MultiLabelData(texts, sets, path, lines)


def _read_one_hot(path, fmt, text_column, label_columns, encoding) -> MultiLabelData:
    texts, sets, lines = [], [], []
    with open(path, encoding=encoding, newline="") as f:
        rows = csv.reader(f, delimiter="," if fmt == "csv" else "\t")
        head = next(rows, None)
        if not head:
            raise DataError("file is empty (expected a header row naming the label columns)", path)
        missing = [c for c in label_columns if c not in head]
        if missing:
            raise DataError(f"label columns {missing} not in the header ({head})", path, 1)
        tcol = text_column if isinstance(text_column, int) else head.index(text_column or "text") \
            if (text_column or "text") in head else None
        if tcol is None:
            raise DataError(f"no text column (expected 'text' or data.text_column; header: {head})", path, 1)
        cols = [head.index(c) for c in label_columns]
        for no, row in enumerate(rows, 2):
            if not row:
                continue
            if len(row) != len(head):
                raise DataError(f"{len(row)} fields, expected {len(head)} (as in the header)", path, no)
            ys = []
            for c, j in zip(label_columns, cols):
                if row[j].strip() not in ("0", "1"):
                    raise DataError(f"column {c!r}: {row[j]!r} (expected 0 or 1)", path, no)
                if row[j].strip() == "1":
                    ys.append(c)
            texts.append(row[tcol])
            sets.append(ys)
            lines.append(no)
    return MultiLabelData(texts, sets, path, lines)


def k_per_label(data: MultiLabelData, k: int, seed: int = 0):
    """At least k examples of every label (rarest label first; an example counts for every label it carries) ->
    (labeled, unlabeled rest). DataError when a label has fewer than k examples."""
    rng = np.random.default_rng(seed)
    chosen, have = set(), {}
    names = data.label_set()
    by_label = {n: [i for i, ys in enumerate(data.labels) if n in ys] for n in names}
    for n in sorted(names, key=lambda x: (len(by_label[x]), x)):
        if len(by_label[n]) < k:
            raise DataError(f"label {n!r} has {len(by_label[n])} examples, fewer than k={k}", data.source)
        for i in rng.permutation(by_label[n]).tolist():
            if have.get(n, 0) >= k:
                break
            if i in chosen:
                continue
            chosen.add(i)
            for y in data.labels[i]:
                have[y] = have.get(y, 0) + 1
    idx = sorted(chosen)
    rest = sorted(set(range(len(data))) - chosen)
    return data.subset(idx), data.subset(rest, unlabeled=True)


def load_multilabel_splits(dc, seed: int = 0) -> dict:
    """The splits of a data: section with task multilabel (lowdata.data.splits.load_splits' counterpart)."""
    from .readers import read
    from .sampling import sample, split

    if not dc.train:
        raise DataError("no training data: set data.train")
    kw = dict(format=dc.format, text_column=dc.text_column, label_column=dc.label_column,
              label_columns=dc.label_columns, label_sep=dc.label_sep, label_names=dc.label_names, header=dc.header,
              encoding=dc.encoding)
    train = read_multilabel(dc.train, **kw)
    dev = read_multilabel(dc.dev, **kw) if dc.dev else None
    test = read_multilabel(dc.test, **kw) if dc.test else None
    s = seed if dc.sample_seed is None else dc.sample_seed
    unlabeled = None
    if dc.k_per_class:
        train, unlabeled = k_per_label(train, dc.k_per_class, seed=s)
    elif dc.fraction:
        from .sampling import fraction

        train = fraction(train, dc.fraction, seed=s)
    if dc.unlabeled:
        unlabeled = read(dc.unlabeled, split="unlabeled", labeled=False, format=None, task="classify",
                         text_column=dc.unlabeled_column if dc.unlabeled_column is not None else dc.text_column)
    if test is not None and dc.test_sample and dc.test_sample < len(test):
        test = sample(test, dc.test_sample, seed=0)
    if dev is None and dc.dev_fraction:
        train, dev = split(train, (1 - dc.dev_fraction, dc.dev_fraction), seed=s)
    return {"train": train, "dev": dev, "test": test, "unlabeled": unlabeled, "unlabeled_truth": None}
