"""The augmenter contract: settings in the constructor, `__call__(texts) -> list[list[str]]`.

    aug = SomeAugmenter(n=4, seed=0)
    aug(["a fine film", "dull"])  ->  [["...", "...", "...", "..."], [...]]   # one list per input text

Randomness: each text gets its own random stream (`rng.Stream`, cheap to seed) seeded from (seed, augmenter name,
text), so the output for a text does not depend on its position, on the other texts, or on how the work is split
over processes: the same seed gives byte-identical output. Empty (whitespace-only) texts come back unchanged, n times.
"""
from __future__ import annotations

import re

from .rng import Stream, stream_for

_WORD = re.compile(r"\S+")


class Augmenter:
    name = "augmenter"

    def __init__(self, n: int = 1, seed: int = 0):
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.n, self.seed = n, seed

    def rng(self, text: str, salt: str = "") -> Stream:
        return stream_for((str(self.seed), self.name, salt), text)

    def __call__(self, texts: list[str]) -> list[list[str]]:
        if isinstance(texts, str):
            raise TypeError("an augmenter takes a list of texts; wrap a single text in a list")
        return [self.augment(t, self.rng(t)) if t.strip() else [t] * self.n for t in texts]

    def augment(self, text: str, rng: Stream) -> list[str]:
        """One text -> its variants. Subclasses define this, or `one(text, rng) -> str` for n independent draws."""
        return [self.one(text, rng) for _ in range(self.n)]


def words(text: str) -> list[str]:
    return text.split()


def join(ws: list[str]) -> str:
    return " ".join(ws)


_CJK = re.compile("[\u4e00-\u9fff]")


def is_cjk(text: str) -> bool:
    return _CJK.search(text) is not None
