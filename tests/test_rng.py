"""The per-text random stream and the rates of the ops rewritten on it (geometric gaps instead of per-item draws)."""
from collections import Counter

import pytest
from scipy import stats

from lowdata.augment.eda import SynonymReplace, random_delete
from lowdata.augment.noise import _NEIGH, KeyboardNoise
from lowdata.augment.rng import Stream, seed_of

from .conftest import data_path


def test_uniform_and_deterministic():
    xs = [Stream(7).random() for _ in range(3)]
    assert xs[0] == xs[1] == xs[2]  # same seed, same stream
    r = Stream(seed_of("0", "swap", "a text"))
    u = [r.random() for _ in range(20000)]
    assert min(u) >= 0.0 and max(u) < 1.0
    assert stats.kstest(u, "uniform").pvalue > 0.001
    assert Stream(seed_of("0", "swap", "a text")).random() != Stream(seed_of("0", "swap", "a text.")).random()


def test_randrange_choice_shuffle_sample_choices():
    r = Stream(1)
    counts = Counter(r.randrange(3, 8) for _ in range(25000))
    assert set(counts) == {3, 4, 5, 6, 7} and stats.chisquare(list(counts.values())).pvalue > 0.001
    assert all(1 <= r.randint(1, 2) <= 2 for _ in range(100))
    first = Counter()
    for _ in range(6000):
        x = list(range(4))
        r.shuffle(x)
        assert sorted(x) == [0, 1, 2, 3]
        first[x[0]] += 1
    assert stats.chisquare(list(first.values())).pvalue > 0.001
    s = r.sample(range(10), 4)
    assert len(set(s)) == 4 and set(s) <= set(range(10))
    w = Counter(r.choices(["a", "b"], [1, 3], k=20000))
    assert abs(w["b"] / 20000 - 0.75) < 0.02
    with pytest.raises(ValueError):
        r.sample([1, 2], 3)
    with pytest.raises(IndexError):
        r.choice([])
    with pytest.raises(ValueError):
        r.randrange(0)


@pytest.mark.parametrize("p", [0.03, 0.1, 0.5, 0.9])
def test_bernoulli_positions_are_independent_trials(p):
    r, n, trials = Stream(seed_of("bernoulli", str(p))), 20, 8000
    hits = Counter()
    sizes = []
    for _ in range(trials):
        pos = r.bernoulli(p, n)
        assert pos == sorted(set(pos)) and all(0 <= i < n for i in pos)
        hits.update(pos)
        sizes.append(len(pos))
    rate = [hits[i] / trials for i in range(n)]  # every position w.p. p
    assert max(abs(x - p) for x in rate) < 4 * (p * (1 - p) / trials) ** 0.5 + 1e-9
    observed = Counter(sizes)  # number of successes ~ Binomial(n, p)
    ks = range(n + 1)
    expected = [trials * stats.binom.pmf(k, n, p) for k in ks]
    keep = [k for k in ks if expected[k] >= 5]
    obs = [observed[k] for k in keep] + [trials - sum(observed[k] for k in keep)]
    exp = [expected[k] for k in keep] + [trials - sum(expected[k] for k in keep)]
    if exp[-1] < 1e-9:
        obs, exp = obs[:-1], exp[:-1]
    assert stats.chisquare(obs, exp).pvalue > 0.001
    assert r.bernoulli(0.0, 5) == [] and r.bernoulli(1.0, 3) == [0, 1, 2] and r.bernoulli(0.5, 0) == []


def test_random_delete_rate():
    ws = [f"w{i}" for i in range(30)]
    kept = [len(random_delete(ws, 0.1, Stream(i))) for i in range(3000)]
    assert abs(1 - sum(kept) / (30 * 3000) - 0.1) < 0.01
    assert random_delete(["only"], 0.9, Stream(0)) == ["only"]
    assert len(random_delete(ws, 1.0, Stream(0))) == 1  # never empty


def test_keyboard_noise_rate_counts_eligible_characters_only():
    text = "The quick brown fox, 42 jumps! Over... the lazy DOG?"
    eligible = sum(1 for c in text if _NEIGH.get(c.lower()))
    aug = KeyboardNoise(p=0.2, n=1)
    changed = 0
    for seed in range(1500):
        aug.seed = seed
        out = aug([text])[0][0]
        assert len(out) == len(text)
        for a, b in zip(text, out):
            if a != b:
                assert b.lower() in _NEIGH[a.lower()] and (a.isupper() == b.isupper() or not b.isalpha())
                changed += 1
    assert abs(changed / (1500 * eligible) - 0.2) < 0.015


def test_synonym_replace_changes_k_distinct_words():
    data_path("wordnet-3.0")
    text = "the happy actors made a good film about a big old house"
    ws = text.split()
    for v in SynonymReplace(alpha=0.25, n=20, seed=0)([text])[0]:  # k = int(0.25 * 12) = 3 words
        changed = {w for w, x in zip(ws, v.split()) if w != x} if len(v.split()) == len(ws) else None
        assert changed is None or len(changed) == 3
        assert v.split()[0] == "the"
