"""Chinese augmenters: Cilin synonyms over jieba words, homophones, similar-shape characters.

    ZhSynonym(alpha=0.1, n=2, cilin_path=".../同义词.txt")(["这部电影非常好看"])
    ZhHomophone(p=0.1)(["今天天气很好"])     # a character -> another with the same pinyin (pypinyin data)
    ZhShape(p=0.1)(["己经"])                 # a character -> a similar-shaped one (data/shape_zh.txt)
EDA, noise, splitting and reversal also work on Chinese text (see their docs).
Homophone candidates are restricted to GB2312 characters (the ~6,700 common ones) with the same toned reading.
"""
from __future__ import annotations

import functools
from importlib import resources

from .base import Augmenter
from .eda import SynonymReplace
from .rng import Stream


class ZhSynonym(SynonymReplace):
    name = "zh_synonym"

    def __init__(self, alpha: float = 0.1, n: int = 1, seed: int = 0, cilin_path: str | None = None):
        super().__init__(alpha, n, seed, cilin_path=cilin_path, lang="zh")


@functools.lru_cache(maxsize=1)
def _homophones() -> dict:
    from pypinyin.pinyin_dict import pinyin_dict

    by_sound: dict[str, list] = {}
    for cp, readings in pinyin_dict.items():
        c = chr(cp)
        try:
            c.encode("gb2312")
        except UnicodeEncodeError:
            continue
        by_sound.setdefault(readings.split(",")[0], []).append(c)
    out = {}
    for chars in by_sound.values():
        for c in chars:
            out[c] = [d for d in chars if d != c]
    return out


@functools.lru_cache(maxsize=1)
def _shapes() -> dict:
    text = (resources.files("lowdata.augment") / "data" / "shape_zh.txt").read_text(encoding="utf-8")
    out = {}
    for ln in text.splitlines():
        if ln.strip() and not ln.startswith("#"):
            for c in ln.strip():
                out[c] = [d for d in ln.strip() if d != c]
    return out


class _CharSwap(Augmenter):
    def __init__(self, p: float = 0.1, n: int = 1, seed: int = 0):
        super().__init__(n, seed)
        self.p = p

    def table(self) -> dict:
        return {}

    def one(self, text: str, rng: Stream) -> str:
        tab = self.table()
        return "".join(rng.choice(tab[c]) if tab.get(c) and rng.random() < self.p else c for c in text)


class ZhHomophone(_CharSwap):
    name = "zh_homophone"

    def table(self):
        return _homophones()


class ZhShape(_CharSwap):
    name = "zh_shape"

    def table(self):
        return _shapes()
