"""Noise injection: keyboard typos, character edits, OCR confusions, grammar errors. Each has an intensity `p`.

    KeyboardNoise(p=0.05, n=2, seed=0)(["the movie was great"])   # each letter -> a QWERTY neighbour w.p. p
    CharNoise(p=0.05, ops=("insert", "delete", "swap"))          # random character edits
    OCRNoise(p=0.1)                                               # 0<->O, rn<->m, cl<->d, 5<->S ...
    GrammarNoise(p=0.3)                                           # article drop, agreement and tense errors

Works on any script: character edits on Chinese text edit Chinese characters (the inserted character is drawn
from the text itself, so no foreign script appears).
"""
from __future__ import annotations

from importlib import resources

from .base import Augmenter
from .rng import Stream

_ROWS = ["`1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./"]
_OFFSETS = [0, 1, 1.5, 2]  # horizontal stagger of the rows, in key widths


def _keyboard_neighbours() -> dict:
    pos = {c: (r, i + _OFFSETS[r]) for r, row in enumerate(_ROWS) for i, c in enumerate(row)}
    out = {}
    for c, (r, x) in pos.items():
        out[c] = "".join(d for d, (r2, x2) in pos.items()
                         if d != c and abs(r2 - r) <= 1 and abs(x2 - x) <= 1.0 and (d.isalnum()))
    return out


_NEIGH = _keyboard_neighbours()
_CASED = {**{c.upper(): v.upper() for c, v in _NEIGH.items() if v and c.upper() != c},
          **{c: v for c, v in _NEIGH.items() if v}}  # 'F' -> 'DRTGCV': the case kept without a test per hit


def _table(name: str) -> dict:
    text = (resources.files("lowdata.augment") / "data" / name).read_text(encoding="utf-8")
    out = {}
    for ln in text.splitlines():
        if ln.strip() and not ln.startswith("#"):
            src, dst = ln.split("\t")
            out[src] = dst.split()
    return out


class KeyboardNoise(Augmenter):
    name = "keyboard"

    def __init__(self, p: float = 0.05, n: int = 1, seed: int = 0):
        super().__init__(n, seed)
        self.p = p

    def one(self, text: str, rng: Stream) -> str:
        # Each key-mapped character changes independently w.p. p. Positions are drawn over all characters by
        # geometric gaps (one draw per hit, not per character); a hit on a character with no keyboard neighbour is a
        # no-op, so the key-mapped characters still change independently w.p. p.
        out, last = [], 0
        for i in rng.bernoulli(self.p, len(text)):
            options = _CASED.get(text[i])
            if options:
                out += (text[last:i], options[int(rng.random() * len(options))])
                last = i + 1
        return "".join(out) + text[last:] if out else text


class CharNoise(Augmenter):
    name = "char"
    OPS = ("insert", "delete", "swap", "substitute")

    def __init__(self, p: float = 0.05, ops=("insert", "delete", "swap"), n: int = 1, seed: int = 0):
        super().__init__(n, seed)
        bad = [o for o in ops if o not in self.OPS]
        if bad or not ops:
            raise ValueError(f"unknown char ops {bad} (valid: {', '.join(self.OPS)})")
        self.p, self.ops = p, tuple(ops)

    def one(self, text: str, rng: Stream) -> str:
        chars = list(text)
        alphabet = [c for c in chars if not c.isspace()] or ["a"]
        out, i = [], 0
        while i < len(chars):
            c = chars[i]
            if c.isspace() or rng.random() >= self.p:
                out.append(c)
                i += 1
                continue
            op = rng.choice(self.ops)
            if op == "insert":
                out += [c, rng.choice(alphabet)]
            elif op == "substitute":
                out.append(rng.choice(alphabet))
            elif op == "swap" and i + 1 < len(chars) and not chars[i + 1].isspace():
                out += [chars[i + 1], c]
                i += 1
            elif op == "delete" and len(chars) > 1:
                pass
            else:
                out.append(c)
            i += 1
        res = "".join(out)
        return res if res.strip() else text


class OCRNoise(Augmenter):
    name = "ocr"

    def __init__(self, p: float = 0.1, n: int = 1, seed: int = 0):
        super().__init__(n, seed)
        self.p, self.table = p, _table("ocr_en.tsv")
        self.multi = sorted((k for k in self.table if len(k) > 1), key=len, reverse=True)

    def one(self, text: str, rng: Stream) -> str:
        out, i = [], 0
        while i < len(text):
            src = next((m for m in self.multi if text.startswith(m, i)), text[i])
            if src in self.table and rng.random() < self.p:
                out.append(rng.choice(self.table[src]))
            else:
                out.append(src)
            i += len(src)
        return "".join(out)


class GrammarNoise(Augmenter):
    """Learner-style errors, each candidate word changed w.p. p: drop an article (a/an/the), swap a word for its
    agreement/tense/confusable partner (is->are, has->have, went->go, their->there ...), a/an confusion."""
    name = "grammar"

    def __init__(self, p: float = 0.3, n: int = 1, seed: int = 0):
        super().__init__(n, seed)
        self.p, self.table = p, _table("grammar_en.tsv")

    def one(self, text: str, rng: Stream) -> str:
        ws = text.split()
        out = []
        for w in ws:
            lo = w.lower()
            if lo in ("a", "an", "the") and rng.random() < self.p:
                if rng.random() < 0.7 and len(ws) > 1:
                    continue  # article drop
                out.append({"a": "an", "an": "a", "the": "a"}[lo])
            elif lo in self.table and rng.random() < self.p:
                r = rng.choice(self.table[lo])
                out.append(r.capitalize() if w[:1].isupper() else r)
            else:
                out.append(w)
        return " ".join(out) if out else text
