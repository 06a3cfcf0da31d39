"""Contract over every registered augmenter: deterministic for a seed, one list of strings per input, empty and
unicode input handled, no exception on 1,000 random unicode strings. NER augmenters keep tags aligned."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lowdata.augment import build
from lowdata.registry import AUGMENTERS, NER_AUGMENTERS

TEXTS = ["a stirring , funny and finally transporting re-imagining of beauty and the beast", "",
         "   ", "Ünïcödé — naïve café, 東京 🎬!", "这部电影非常好看，演员的表演也很精彩。", "ok"]


def make(name, seed, tiny_mlm, tiny_causal):
    kw = {"n": 2} if name not in ("split_sentences", "split_window", "reverse") else {}
    if name == "mlm_refill":
        kw["model"] = tiny_mlm
    if name == "generate":
        kw.update(model=tiny_causal, max_new_tokens=4)
    if name == "split_window":
        kw.update(size=4, stride=2)
    if name == "random_crop":
        kw.update(min_words=2, max_words=5)
    return AUGMENTERS.get(name, seed=seed, **kw)


@pytest.mark.parametrize("name", AUGMENTERS.names())
def test_contract(name, tiny_mlm, tiny_causal):
    a = make(name, 0, tiny_mlm, tiny_causal)
    out = a(TEXTS)
    assert isinstance(out, list) and len(out) == len(TEXTS)
    assert all(isinstance(vs, list) and vs and all(isinstance(v, str) for v in vs) for vs in out)
    assert out[1] == [""] * len(out[1])  # empty text comes back unchanged
    assert make(name, 0, tiny_mlm, tiny_causal)(TEXTS) == out  # same seed, fresh object: same output
    # a text's output does not depend on its neighbours (so workers and engines cannot change it)
    assert make(name, 0, tiny_mlm, tiny_causal)(TEXTS[::-1])[::-1] == out or name in ("mlm_refill",)
    with pytest.raises(TypeError):
        a("a single string")


RANDOM = [n for n in AUGMENTERS.names()
          if n not in ("mlm_refill", "generate", "split_sentences", "split_window", "reverse")]


@pytest.mark.parametrize("name", RANDOM)
def test_changes_text_and_seed_matters(name):
    """Random augmenters change the text and depend on the seed (the deterministic splits and reversal are
    checked in test_augment.py; the model-based ones in their own tests)."""
    a = AUGMENTERS.get(name, seed=0, n=3)
    long = ["the quick brown fox is happy because the big dog was sleeping in the warm sun . " * 3 +
            "今天天气很好，我们去公园散步吧。这部电影非常好看。我已经知道未来的日子，王先生在大树下待人。"]
    b = AUGMENTERS.get(name, seed=1, n=3)
    assert a(long) != [[long[0]] * 3], f"{name} changed nothing"
    assert a(long) != b(long), f"{name} ignores its seed"


@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(st.text(max_size=60), min_size=500, max_size=500))
def test_no_exception_on_random_unicode(texts):
    for name in AUGMENTERS.names():
        if name in ("mlm_refill", "generate"):
            continue  # model-based: covered with the tiny models below on fewer strings
        out = AUGMENTERS.get(name)(texts)
        assert len(out) == len(texts)


@settings(max_examples=1, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(max_size=40), min_size=200, max_size=200))
def test_model_augmenters_on_random_unicode(tiny_mlm, texts):
    out = AUGMENTERS.get("mlm_refill", model=tiny_mlm, n=2)(texts)
    assert len(out) == len(texts) and all(len(v) == 2 for v in out)


NER_S = [(["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."],
          ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"]),
         (["Peter", "Blackburn", "said", "the", "happy", "man", "walked"], ["B-PER", "I-PER", "O", "O", "O", "O", "O"]),
         (["北", "京", "很", "好"], ["B-LOC", "I-LOC", "O", "O"])]


def _valid_bio(tags):
    prev = "O"
    for t in tags:
        if t.startswith("I-") and prev[2:] != t[2:]:
            return False
        prev = t
    return all(t == "O" or t[:2] in ("B-", "I-") for t in tags)


@pytest.mark.parametrize("name", NER_AUGMENTERS.names())
def test_ner_contract_tags_stay_aligned(name):
    toks, tags = [s[0] for s in NER_S], [s[1] for s in NER_S]
    a = NER_AUGMENTERS.get(name, p=0.9, n=4, seed=0)
    if hasattr(a, "fit"):
        a.fit(toks, tags)
    out = a(toks, tags)
    assert len(out) == len(toks)
    for (t0, g0), variants in zip(NER_S, out):
        for t, g in variants:
            assert len(t) == len(g) and _valid_bio(g)
            ents = [x for x in g if x != "O"]
            assert [x[2:] for x in g if x.startswith("B-")] == [x[2:] for x in g0 if x.startswith("B-")]
            if name != "mention_replace":
                # entity tokens untouched in place (context synonym) or permuted within the mention (shuffle)
                assert sorted(w for w, x in zip(t, g) if x != "O") == sorted(w for w, x in zip(t0, g0) if x != "O")
            assert ents or not [x for x in g0 if x != "O"]
    assert NER_AUGMENTERS.get(name, p=0.9, n=4, seed=0).__class__ is a.__class__
    with pytest.raises(ValueError, match="tokens but"):
        a([["a", "b"]], [["O"]])


def test_build_from_spec_and_errors():
    a = build("eda:alpha=0.2,n=3", seed=5)
    assert a.n == 3 and a.alpha["sr"] == 0.2 and a.seed == 5
    with pytest.raises(ValueError, match="unknown augmenter 'edx'.*eda"):
        build("edx")
    with pytest.raises(ValueError, match="eda has no parameter .bogus. \\(valid: alpha, n, seed"):
        build("eda:bogus=1")
