"""In-memory datasets, validated at construction.

    ds = TextData(texts=["good", "bad"], labels=["pos", "neg"], source="x.tsv")
    ner = TokenData(tokens=[["EU", "rejects"]], tags=[["B-ORG", "O"]])

`labels`/`tags` are None for unlabeled data. `lines` keeps the 1-based source line of each
example so later errors (unknown label in dev, ...) can name where the example came from.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..errors import LowdataError


class DataError(LowdataError, ValueError):
    """Bad input. Names the file, the line (1-based, when known) and what was expected."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        self.path, self.line, self.reason = path, line, message
        where = (path or "") + (f"{', ' if path else ''}line {line}" if line is not None else "")
        super().__init__(f"{where}: {message}" if where else message)


def json_loads(text: str):
    """json.loads for a user's file: JSON nested past Python's recursion limit (`[[[[...`) raises JSONDecodeError,
    which every reader turns into a DataError naming the file and line, instead of a RecursionError. The position is
    not known: a JSONL record's own line is right, a whole-file JSON array is reported at line 1."""
    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text, 0) from None


@dataclass
class TextData:
    texts: list[str]
    labels: list[str] | None = None
    source: str | None = None
    lines: list[int] | None = None

    def __post_init__(self):
        self._check_texts()
        if self.labels is not None:
            self.labels = [str(y) for y in self.labels]
            for i, y in enumerate(self.labels):
                if not y.strip():
                    raise DataError("empty label", self.source, self.lines[i])

    task = "classify"

    def _check_texts(self):
        if self.lines is None:
            self.lines = list(range(1, len(self.texts) + 1))
        if self.labels is not None and len(self.labels) != len(self.texts):
            raise DataError(f"{len(self.texts)} texts but {len(self.labels)} labels", self.source)
        for i, t in enumerate(self.texts):
            if not isinstance(t, str) or not t.strip():
                raise DataError("empty text (expected a non-empty string)", self.source, self.lines[i])

    def __len__(self):
        return len(self.texts)

    @property
    def inputs(self):
        return self.texts

    @property
    def targets(self):
        return self.labels

    def subset(self, idx, unlabeled: bool = False) -> "TextData":
        return TextData(
            texts=[self.texts[i] for i in idx],
            labels=None if unlabeled or self.labels is None else [self.labels[i] for i in idx],
            source=self.source,
            lines=[self.lines[i] for i in idx],
        )

    def label_set(self) -> list[str]:
        return sorted(set(self.labels or []))


@dataclass
class TokenData:
    tokens: list[list[str]]
    tags: list[list[str]] | None = None
    source: str | None = None
    lines: list[int] | None = None

    task = "ner"

    def __post_init__(self):
        if self.lines is None:
            self.lines = list(range(1, len(self.tokens) + 1))
        if self.tags is not None and len(self.tags) != len(self.tokens):
            raise DataError(f"{len(self.tokens)} sentences but {len(self.tags)} tag sequences", self.source)
        for i, toks in enumerate(self.tokens):
            if not toks:
                raise DataError("empty sentence (expected at least one token)", self.source, self.lines[i])
            if self.tags is not None and len(self.tags[i]) != len(toks):
                raise DataError(
                    f"{len(toks)} tokens but {len(self.tags[i])} tags (expected one tag per token)",
                    self.source, self.lines[i])

    def __len__(self):
        return len(self.tokens)

    @property
    def inputs(self):
        return self.tokens

    @property
    def targets(self):
        return self.tags

    def subset(self, idx, unlabeled: bool = False) -> "TokenData":
        return TokenData(
            tokens=[self.tokens[i] for i in idx],
            tags=None if unlabeled or self.tags is None else [self.tags[i] for i in idx],
            source=self.source,
            lines=[self.lines[i] for i in idx],
        )

    def label_set(self) -> list[str]:
        return sorted({t for seq in (self.tags or []) for t in seq})


@dataclass
class LabelMap:
    """Stable label <-> id map: sorted label names, so the same label set always gives the same ids.
    For NER, "O" is id 0 and the rest are sorted."""

    names: list[str] = field(default_factory=list)

    @classmethod
    def from_data(cls, data) -> "LabelMap":
        names = data.label_set()
        if data.task == "ner" and "O" in names:
            names = ["O"] + [n for n in names if n != "O"]
        return cls(names)

    def __post_init__(self):
        self.index = {n: i for i, n in enumerate(self.names)}

    def __len__(self):
        return len(self.names)

    def encode(self, label: str) -> int:
        return self.index[label]

    def check(self, data, split: str) -> None:
        """Every label in `data` (a dev/test split) must be known from train. NER: a tag train lacks is a warning,
        not an error (a 1% sample of Weibo NER has no B-GPE.NOM): the model cannot predict it, and seqeval scores
        those entities as missed, which is what a model trained on that sample deserves."""
        if data.targets is None:
            return
        if data.task == "classify":
            for lab, ln in zip(data.labels, data.lines):
                if lab not in self.index:
                    raise DataError(
                        f"label {lab!r} in the {split} split is absent from train (train labels: {self.names})",
                        data.source, ln)
            return
        unseen: dict = {}
        for seq, ln in zip(data.tags, data.lines):
            for t in seq:
                if t not in self.index:
                    unseen.setdefault(t, [0, ln])[0] += 1
        if unseen:
            import warnings

            from ..errors import LowdataWarning

            where = f"{data.source}: " if data.source else ""
            say = ", ".join(f"{t!r} ({n} tokens, first at line {ln})" for t, (n, ln) in sorted(unseen.items()))
            warnings.warn(f"{where}tags in the {split} split that train never has: {say}; the model cannot predict "
                          f"them and their entities are scored as missed", LowdataWarning, stacklevel=2)
