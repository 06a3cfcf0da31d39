"""NER-aware augmentation that keeps tags aligned with tokens (Dai & Adel, COLING 2020, "An Analysis of Simple
Data Augmentation for Named Entity Recognition": mention replacement, synonym replacement, shuffle within segments).

    aug = MentionReplace(p=0.5, n=2, seed=0).fit(train.tokens, train.tags)   # mention pool from training data
    aug(tokens, tags) -> [[(new_tokens, new_tags), ...], ...]               # n variants per sentence
    ContextSynonym(p=0.3)   # WordNet/Cilin synonyms for O tokens only; entity tokens are never touched
    SegmentShuffle(p=0.5)   # tokens shuffled inside each same-label segment (entity or O run); tags unchanged

Tags are BIO. Every output satisfies len(tokens) == len(tags) and is valid BIO.
"""
from __future__ import annotations

from .eda import ZhSynonyms, stopwords
from .lexicon import Synonyms
from .rng import Stream, seed_of


def segments(tags: list[str]) -> list[tuple[int, int, str]]:
    """[(start, end, type)] with type "O" for runs of O tokens; entities from BIO tags."""
    out, i = [], 0
    while i < len(tags):
        t = tags[i]
        typ = "O" if t == "O" else t[2:]
        j = i + 1
        while j < len(tags) and (tags[j] == "O" if typ == "O" else tags[j] == "I-" + typ):
            j += 1
        out.append((i, j, typ))
        i = j
    return out


class NerAugmenter:
    name = "ner"

    def __init__(self, p: float = 0.3, n: int = 1, seed: int = 0):
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.p, self.n, self.seed = p, n, seed

    def rng(self, tokens: list[str]) -> Stream:
        return Stream(seed_of(str(self.seed), self.name, "\x01".join(tokens)))

    def __call__(self, tokens: list[list[str]], tags: list[list[str]]):
        if len(tokens) != len(tags):
            raise ValueError(f"{len(tokens)} sentences but {len(tags)} tag sequences")
        out = []
        for toks, tg in zip(tokens, tags):
            if len(toks) != len(tg):
                raise ValueError(f"{len(toks)} tokens but {len(tg)} tags")
            r = self.rng(toks)
            out.append([self.one(list(toks), list(tg), r) for _ in range(self.n)])
        return out


class MentionReplace(NerAugmenter):
    """Each mention replaced, w.p. p, by a random mention of the same type seen in training (fit)."""
    name = "mention_replace"

    def __init__(self, p: float = 0.5, n: int = 1, seed: int = 0):
        super().__init__(p, n, seed)
        self.pool: dict[str, list] = {}

    def fit(self, tokens, tags) -> "MentionReplace":
        pool: dict[str, dict] = {}
        for toks, tg in zip(tokens, tags):
            for s, e, typ in segments(tg):
                if typ != "O":
                    pool.setdefault(typ, {})[tuple(toks[s:e])] = None
        self.pool = {k: sorted(v) for k, v in pool.items()}  # sorted: the pool does not depend on data order
        return self

    def one(self, toks, tg, rng):
        new_t, new_g = [], []
        for s, e, typ in segments(tg):
            cands = self.pool.get(typ)
            if typ != "O" and cands and rng.random() < self.p:
                m = list(rng.choice(cands))
                new_t += m
                new_g += ["B-" + typ] + ["I-" + typ] * (len(m) - 1)
            else:
                new_t += toks[s:e]
                new_g += tg[s:e]
        return new_t, new_g


class ContextSynonym(NerAugmenter):
    """O tokens replaced w.p. p by a synonym (a multiword synonym becomes several O tokens)."""
    name = "context_synonym"

    def __init__(self, p: float = 0.3, n: int = 1, seed: int = 0, wordnet_dir: str | None = None,
                 cilin_path: str | None = None, lang: str = "en"):
        super().__init__(p, n, seed)
        self.syn = ZhSynonyms(cilin_path) if lang == "zh" else Synonyms(wordnet_dir)

    def one(self, toks, tg, rng):
        stop = stopwords()
        new_t, new_g = [], []
        for w, t in zip(toks, tg):
            opts = self.syn(w) if t == "O" and w.lower() not in stop and any(c.isalpha() for c in w) else ()
            if opts and rng.random() < self.p:
                parts = rng.choice(opts).split() or [w]
                new_t += parts
                new_g += ["O"] * len(parts)
            else:
                new_t.append(w)
                new_g.append(t)
        return new_t, new_g


class SegmentShuffle(NerAugmenter):
    """Each segment (an entity, or a run of O tokens) has its tokens shuffled w.p. p; tags stay in place."""
    name = "segment_shuffle"

    def one(self, toks, tg, rng):
        out = list(toks)
        for s, e, _ in segments(tg):
            if e - s > 1 and rng.random() < self.p:
                seg = out[s:e]
                rng.shuffle(seg)
                out[s:e] = seg
        return out, list(tg)
