"""EDA: Easy Data Augmentation (Wei & Zou, EMNLP 2019, arXiv:1901.11196).

    aug = EDA(alpha=0.1, n=4, seed=0, wordnet_dir=None)   # or EDA.for_size(len(train), seed=0)
    aug(["a stirring , funny and finally transporting film"])  ->  [[4 variants]]

Four operations, each changing n_changed = max(1, int(alpha * len(words))) words:
synonym replacement (SR, WordNet, stop words never replaced), random insertion (RI, a synonym of a random word at a
random position), random swap (RS), random deletion (RD, each word with probability alpha). As in the paper's
code, each operation makes int(n/4)+1 sentences, the pool is shuffled and cut to n.
Paper defaults by training-set size (Table 3): <=500: alpha 0.05, n 16; <=2000: 0.05, 8; <=5000: 0.1, 4; more: 0.1, 4.
Deviation: the paper's code lowercases and strips every non-letter first; lowdata keeps case and punctuation,
so the text stays natural input for subword models (punctuation tokens are never synonym-replaced).
Chinese (lang="zh", or "auto" and the text has CJK characters): words from jieba, synonyms from HIT Cilin
(`cilin_path` or LOWDATA_CILIN), words joined without spaces.
"""
from __future__ import annotations

import re
from importlib import resources

from .base import Augmenter, is_cjk
from .lexicon import Synonyms, cilin
from .rng import Stream

_STOP = None
_ALPHA = re.compile(r"[^\W\d_]")  # a letter of any script


def stopwords() -> frozenset:
    global _STOP
    if _STOP is None:
        text = (resources.files("lowdata.augment") / "data" / "stopwords_en.txt").read_text(encoding="utf-8")
        _STOP = frozenset(w for ln in text.splitlines() if not ln.startswith("#") for w in ln.split())
    return _STOP


def zh_words(text: str) -> list[str]:
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    return [w for w in jieba.lcut(text) if w.strip()]


class ZhSynonyms:
    def __init__(self, cilin_path=None):
        self.cilin_path = cilin_path

    def __call__(self, word: str) -> tuple:
        return cilin(self.cilin_path).get(word, ())


def _replaceable(syn) -> dict:
    """word -> may SR replace it (not a stop word, has a letter, has synonyms), memoised on the synonym source."""
    try:
        return syn.__dict__.setdefault("_eda_replaceable", {})
    except AttributeError:  # a source without attributes: no memo
        return {}


def synonym_replace(ws: list[str], k: int, rng: Stream, syn) -> list[str]:
    # The paper's code shuffles the non-stop words and replaces the first k that have synonyms. Drawing the order
    # lazily among the words that have synonyms gives the same distribution with k draws instead of a shuffle.
    memo, cands = _replaceable(syn), []
    for w in dict.fromkeys(ws):
        ok = memo.get(w)
        if ok is None:
            ok = memo[w] = bool(w.lower() not in stopwords() and _ALPHA.search(w) and syn(w))
        if ok:
            cands.append(w)
    out, n = ws, len(cands)
    for i in range(min(k, n)):
        j = i + int(rng.random() * (n - i))
        cands[i], cands[j] = cands[j], cands[i]
        w, s = cands[i], rng.choice(syn(cands[i]))
        out = [s if x == w else x for x in out]  # every occurrence, as in the paper's code
    return list(out)


def random_insert(ws: list[str], k: int, rng: Stream, syn) -> list[str]:
    out = list(ws)
    for _ in range(k):
        for _try in range(10):  # the paper's code tries 10 random words for one with a synonym
            options = syn(out[rng.randrange(len(out))]) if out else ()
            if options:
                out.insert(rng.randrange(len(out) + 1), rng.choice(options))
                break
    return out


def random_swap(ws: list[str], k: int, rng: Stream) -> list[str]:
    out = list(ws)
    if len(out) < 2:
        return out
    for _ in range(k):
        i = rng.randrange(len(out))
        j = i
        for _try in range(3):
            j = rng.randrange(len(out))
            if j != i:
                break
        out[i], out[j] = out[j], out[i]
    return out


def random_delete(ws: list[str], p: float, rng: Stream) -> list[str]:
    if len(ws) <= 1:
        return list(ws)
    gone = rng.bernoulli(p, len(ws))  # each word independently w.p. p, drawn by geometric gaps
    if not gone:
        return list(ws)
    if len(gone) == len(ws):
        return [ws[rng.randrange(len(ws))]]
    out, last = [], 0
    for i in gone:
        out += ws[last:i]
        last = i + 1
    return out + ws[last:]


class EDA(Augmenter):
    name = "eda"

    def __init__(self, alpha: float = 0.1, n: int = 4, seed: int = 0, alpha_sr: float | None = None,
                 alpha_ri: float | None = None, alpha_rs: float | None = None, p_rd: float | None = None,
                 wordnet_dir: str | None = None, cilin_path: str | None = None, lang: str = "auto"):
        super().__init__(n, seed)
        if lang not in ("auto", "en", "zh"):
            raise ValueError(f"lang must be auto, en or zh, got {lang!r}")
        self.lang = lang
        self.zh_syn = ZhSynonyms(cilin_path)
        a = alpha
        self.alpha = {"sr": a if alpha_sr is None else alpha_sr, "ri": a if alpha_ri is None else alpha_ri,
                      "rs": a if alpha_rs is None else alpha_rs, "rd": a if p_rd is None else p_rd}
        self.syn = Synonyms(wordnet_dir)

    @classmethod
    def for_size(cls, n_train: int, seed: int = 0, **kw) -> "EDA":
        """The paper's recommended (alpha, n_aug) for a training set of n_train examples."""
        alpha, n = (0.05, 16) if n_train <= 500 else (0.05, 8) if n_train <= 2000 else (0.1, 4)
        return cls(alpha=alpha, n=n, seed=seed, **kw)

    def ops(self):
        return [op for op in ("sr", "ri", "rs", "rd") if self.alpha[op] > 0]

    def split(self, text: str):
        """-> (words, joiner, synonym source) for the text's language."""
        if self.lang == "zh" or (self.lang == "auto" and is_cjk(text)):
            return zh_words(text), "", self.zh_syn
        return text.split(), " ", self.syn

    def apply(self, op: str, ws: list[str], rng: Stream, syn=None) -> list[str]:
        k = max(1, int(self.alpha[op] * len(ws)))
        if op == "sr":
            return synonym_replace(ws, k, rng, syn or self.syn)
        if op == "ri":
            return random_insert(ws, k, rng, syn or self.syn)
        if op == "rs":
            return random_swap(ws, k, rng)
        return random_delete(ws, self.alpha["rd"], rng)

    def augment(self, text: str, rng: Stream) -> list[str]:
        ws, sep, syn = self.split(text)
        ops = self.ops()
        per = self.n // len(ops) + 1
        pool = [sep.join(self.apply(op, ws, rng, syn)) for op in ops for _ in range(per)]
        rng.shuffle(pool)
        return pool[: self.n]


class _One(EDA):
    """A single EDA operation (the others off)."""
    op = "sr"

    def __init__(self, alpha: float = 0.1, n: int = 1, seed: int = 0, wordnet_dir: str | None = None,
                 cilin_path: str | None = None, lang: str = "auto"):
        z = {"alpha_sr": 0.0, "alpha_ri": 0.0, "alpha_rs": 0.0, "p_rd": 0.0}
        z[{"sr": "alpha_sr", "ri": "alpha_ri", "rs": "alpha_rs", "rd": "p_rd"}[self.op]] = alpha
        super().__init__(alpha, n, seed, wordnet_dir=wordnet_dir, cilin_path=cilin_path, lang=lang, **z)

    def augment(self, text: str, rng: Stream) -> list[str]:
        ws, sep, syn = self.split(text)
        return [sep.join(self.apply(self.op, ws, rng, syn)) for _ in range(self.n)]


class SynonymReplace(_One):
    name, op = "synonym", "sr"


class RandomInsert(_One):
    name, op = "insert", "ri"


class RandomSwap(_One):
    name, op = "swap", "rs"


class RandomDelete(_One):
    name, op = "delete", "rd"
