"""Composition: Sequential, OneOf, Sometimes. Same contract as every augmenter.

    Sequential([EDA(n=2), KeyboardNoise(p=0.02)])   # EDA's 2 variants, each then passed through keyboard noise
    OneOf([EDA(n=2), KeyboardNoise(n=2)], seed=0)     # per text, one of them (uniform or `weights`)
    Sometimes(KeyboardNoise(), p=0.5, seed=0)         # per variant, applied with probability p
"""
from __future__ import annotations

from .base import Augmenter


class Sequential(Augmenter):
    name = "sequential"

    def __init__(self, augmenters: list, seed: int = 0):
        if not augmenters:
            raise ValueError("Sequential needs at least one augmenter")
        super().__init__(augmenters[0].n, seed)
        self.augs = list(augmenters)

    def __call__(self, texts: list[str]) -> list[list[str]]:
        out = self.augs[0](texts)
        for aug in self.augs[1:]:
            # each variant goes through the next augmenter, which keeps its first output
            out = [[vs[0] for vs in aug(variants)] if variants else variants for variants in out]
        return out


class OneOf(Augmenter):
    name = "one_of"

    def __init__(self, augmenters: list, weights: list | None = None, seed: int = 0):
        if not augmenters:
            raise ValueError("OneOf needs at least one augmenter")
        super().__init__(max(a.n for a in augmenters), seed)
        self.augs, self.weights = list(augmenters), weights

    def __call__(self, texts: list[str]) -> list[list[str]]:
        pick = [self.rng(t).choices(range(len(self.augs)), self.weights)[0] for t in texts]
        out: list = [None] * len(texts)
        for k, aug in enumerate(self.augs):
            idx = [i for i, p in enumerate(pick) if p == k]
            if idx:
                for i, vs in zip(idx, aug([texts[i] for i in idx])):
                    out[i] = vs
        return out


class Sometimes(Augmenter):
    name = "sometimes"

    def __init__(self, augmenter, p: float = 0.5, seed: int = 0):
        super().__init__(augmenter.n, seed)
        self.aug, self.p = augmenter, p

    def __call__(self, texts: list[str]) -> list[list[str]]:
        done = self.aug(texts)
        out = []
        for t, vs in zip(texts, done):
            r = self.rng(t)
            out.append([v if r.random() < self.p else t for v in vs])
        return out
