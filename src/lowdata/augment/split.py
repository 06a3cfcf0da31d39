"""Random splitting of long texts: each chunk inherits its source's label.

    SentenceSplit(max_words=64)(docs)     # sentences grouped greedily into chunks of at most max_words
    WindowSplit(size=64, stride=32)(docs) # sliding windows over words
    RandomCrop(n=4, min_words=16, max_words=64, seed=0)(docs)   # n random contiguous word spans
The output is one list of chunks per text; a text shorter than one chunk comes back whole.
"""
from __future__ import annotations

import re

from .base import Augmenter, is_cjk
from .rng import Stream

_SENT = re.compile(r"(?<=[.!?。！？；;])\s*")


class SentenceSplit(Augmenter):
    name = "split_sentences"

    def __init__(self, max_words: int = 64, seed: int = 0):
        super().__init__(1, seed)
        self.max_words = max_words

    def augment(self, text: str, rng: Stream) -> list[str]:
        sents = [s for s in _SENT.split(text.strip()) if s.strip()]
        cjk = is_cjk(text)
        size = (lambda s: len(s)) if cjk else (lambda s: len(s.split()))
        chunks, cur, n = [], [], 0
        for s in sents:
            if cur and n + size(s) > self.max_words:
                chunks.append(("" if cjk else " ").join(cur))
                cur, n = [], 0
            cur.append(s)
            n += size(s)
        if cur:
            chunks.append(("" if cjk else " ").join(cur))
        return chunks or [text]


class WindowSplit(Augmenter):
    name = "split_window"

    def __init__(self, size: int = 64, stride: int = 32, seed: int = 0):
        super().__init__(1, seed)
        if not 0 < stride <= size:
            raise ValueError(f"need 0 < stride <= size, got stride={stride}, size={size}")
        self.size, self.stride = size, stride

    def augment(self, text: str, rng: Stream) -> list[str]:
        cjk = is_cjk(text) and " " not in text.strip()
        units = list(text.strip()) if cjk else text.split()
        sep = "" if cjk else " "
        if len(units) <= self.size:
            return [text]
        starts = list(range(0, len(units) - self.size + 1, self.stride))
        if starts[-1] + self.size < len(units):
            starts.append(len(units) - self.size)
        return [sep.join(units[s: s + self.size]) for s in starts]


class RandomCrop(Augmenter):
    name = "random_crop"

    def __init__(self, n: int = 4, min_words: int = 16, max_words: int = 64, seed: int = 0):
        super().__init__(n, seed)
        if not 0 < min_words <= max_words:
            raise ValueError(f"need 0 < min_words <= max_words, got {min_words}, {max_words}")
        self.min_words, self.max_words = min_words, max_words

    def one(self, text: str, rng: Stream) -> str:
        cjk = is_cjk(text) and " " not in text.strip()
        units = list(text.strip()) if cjk else text.split()
        if len(units) <= self.min_words:
            return text
        k = rng.randint(self.min_words, min(self.max_words, len(units)))
        s = rng.randrange(len(units) - k + 1)
        return ("" if cjk else " ").join(units[s: s + k])
