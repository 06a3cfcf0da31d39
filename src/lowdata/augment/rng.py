"""A per-text random stream that is cheap to seed.

Every augmenter seeds one stream per text from (seed, augmenter name, text), so its output does not depend on the
batch or on how the work is split over processes. Seeding `random.Random` (Mersenne Twister: 624 words of state)
costs about 5-10 us, as much as a whole random swap; this stream costs about 0.2 us to seed.

Generator: a 64-bit linear congruential generator with Knuth's MMIX constants, returning the top 53 bits of the
state (the high bits of a power-of-two LCG are the good ones; the low bits are never used). Not for cryptography
or simulation; plenty for choosing which words to edit. Seeds come from a keyed BLAKE2b hash of the text, so
nearby texts start at unrelated points of the 2^64 cycle.

The methods used by augmenters mirror `random.Random` (random, randrange, randint, choice, choices, shuffle,
sample); `bernoulli(p, n)` gives the positions of successes in n independent Bernoulli(p) trials by geometric
gaps, one draw per success instead of one per trial.
"""
from __future__ import annotations

import bisect
import hashlib
import itertools
import math

_MASK = (1 << 64) - 1
_MUL = 6364136223846793005
_INC = 1442695040888963407
_SCALE = 2.0 ** -53


def seed_of(*parts: str) -> int:
    key = "\x00".join(parts).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")


_PREFIX: dict = {}


def stream_for(prefix: tuple, text: str) -> "Stream":
    """Stream(seed_of(*prefix, text)), with the prefix's hash state computed once and copied (a third faster)."""
    h = _PREFIX.get(prefix)
    if h is None:
        h = _PREFIX[prefix] = hashlib.blake2b(("\x00".join(prefix) + "\x00").encode("utf-8", "surrogatepass"),
                                              digest_size=8)
    h = h.copy()
    h.update(text.encode("utf-8", "surrogatepass"))
    return Stream(int.from_bytes(h.digest(), "little"))


class Stream:
    __slots__ = ("s",)

    def __init__(self, seed: int):
        self.s = seed & _MASK

    def random(self) -> float:
        """A float in [0, 1)."""
        s = self.s = (self.s * _MUL + _INC) & _MASK
        return (s >> 11) * _SCALE

    def randrange(self, start: int, stop: int | None = None) -> int:
        if stop is None:
            start, stop = 0, start
        if stop <= start:
            raise ValueError(f"empty range for randrange({start}, {stop})")
        return start + int(self.random() * (stop - start))

    def randint(self, a: int, b: int) -> int:
        return self.randrange(a, b + 1)

    def choice(self, seq):
        if not seq:
            raise IndexError("cannot choose from an empty sequence")
        return seq[int(self.random() * len(seq))]

    def choices(self, population, weights=None, *, k: int = 1) -> list:
        if weights is None:
            return [self.choice(population) for _ in range(k)]
        cum = list(itertools.accumulate(weights))
        if len(cum) != len(population):
            raise ValueError("the number of weights does not match the population")
        total, hi = cum[-1], len(population) - 1
        return [population[bisect.bisect(cum, self.random() * total, 0, hi)] for _ in range(k)]

    def shuffle(self, x: list) -> None:
        for i in range(len(x) - 1, 0, -1):
            j = int(self.random() * (i + 1))
            x[i], x[j] = x[j], x[i]

    def sample(self, population, k: int) -> list:
        pool = list(population)
        if not 0 <= k <= len(pool):
            raise ValueError("sample larger than population or is negative")
        n = len(pool)
        for i in range(k):  # partial Fisher-Yates: k draws
            j = i + int(self.random() * (n - i))
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:k]

    def bernoulli(self, p: float, n: int) -> list[int]:
        """Sorted positions i < n of the successes of n independent Bernoulli(p) trials (geometric gaps)."""
        if p <= 0 or n <= 0:
            return []
        if p >= 1:
            return list(range(n))
        log_q, out, i, s, log = math.log1p(-p), [], -1, self.s, math.log
        while True:  # the generator step inlined: this loop is the hot path of the character-noise ops
            s = (s * _MUL + _INC) & _MASK
            gap = log(1.0 - (s >> 11) * _SCALE) / log_q  # failures before the next success
            if gap >= n - 1 - i:
                self.s = s
                return out
            i += 1 + int(gap)
            out.append(i)
