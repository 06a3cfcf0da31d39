"""Frozen-encoder sentence vectors (lowdata.ssl.graph.embed) and their on-disk cache (lowdata.ssl.embedding)."""
import numpy as np

WORDS = "the film was slow but the acting and the music were good enough for a rainy evening at home".split()


def _texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(2, 40)))) for _ in range(n)]


def test_a_texts_vector_does_not_depend_on_its_batch_mates(tiny_model):
    """Alone, among longer texts, or among shorter ones: the same text gets bit-identical vectors (padding to the
    batch's longest text used to move them ~1e-7, and the embedding cache then depended on what was cached first)."""
    from lowdata.ssl.graph import embed, load_for_embedding

    enc = load_for_embedding(tiny_model, "cpu")
    texts = _texts(60)
    together = embed(texts, encoder=enc, max_length=64, batch_size=16)
    alone = np.stack([embed([t], encoder=enc, max_length=64)[0] for t in texts[:12]])
    assert np.array_equal(together[:12], alone)
    shuffled = embed(texts[::-1], encoder=enc, max_length=64, batch_size=7)[::-1]
    assert np.array_equal(together, shuffled)
    assert np.allclose(np.linalg.norm(together, axis=1), 1, atol=1e-5)
    assert embed([], encoder=enc).shape == (0, enc[0].config.hidden_size)


def test_cache_keeps_what_another_writer_added_meanwhile(tiny_model, tmp_path, monkeypatch):
    """Two writers: the second embeds while the first saves. Both sets stay cached, each row with its own text's
    vector (the cache used to be rewritten from what the slower writer had read before embedding)."""
    import lowdata.ssl.graph as graph
    from lowdata.ssl.embedding import _cache_dir, _load, cached_embed

    monkeypatch.setenv("LOWDATA_CACHE", str(tmp_path / "cache"))
    a, b = _texts(10, 1), _texts(10, 2)
    real, calls = graph.embed, []

    def embed(texts, **kw):
        calls.append(len(texts))
        if len(calls) == 1:  # another process fills the cache with b while this one embeds a
            cached_embed(b, tiny_model, 32)
        return real(texts, **kw)

    monkeypatch.setattr(graph, "embed", embed)
    va = cached_embed(a, tiny_model, 32)
    keys, vecs = _load(_cache_dir(tiny_model, 32))
    assert len(keys) == len(set(a)) + len(set(b) - set(a)) == len(vecs)
    monkeypatch.setattr(graph, "embed", real)
    n = len(calls)
    again = cached_embed(b + a, tiny_model, 32)  # all cached: nothing embedded
    assert len(calls) == n
    fresh = real(b + a, model=tiny_model, max_length=32)
    assert np.array_equal(again, fresh) and np.array_equal(again[len(b):], va)


def test_cache_reader_between_the_two_writes_sees_aligned_rows(tiny_model, tmp_path, monkeypatch):
    """vecs.npy is replaced before keys.npy: a reader in between finds more vectors than keys and uses the first."""
    from lowdata.ssl.embedding import _cache_dir, cached_embed

    monkeypatch.setenv("LOWDATA_CACHE", str(tmp_path / "cache"))
    texts = _texts(6, 3)
    v = cached_embed(texts, tiny_model, 32)
    d = _cache_dir(tiny_model, 32)
    np.save(f"{d}/vecs.npy", np.vstack([np.load(f"{d}/vecs.npy"), np.ones((3, v.shape[1]), np.float32)]))
    assert np.array_equal(cached_embed(texts, tiny_model, 32), v)


def test_bf16_vectors_only_where_native_close_to_float32_deterministic_and_cached_apart(tiny_model, toy_files, tmp_path,
                                                                                      monkeypatch):
    """model.embed_bf16: the encoder runs under bf16 autocast where hardware.bf16_fast says bf16 is native (forced
    here, so the test does not depend on the CI machine's CPU): vectors close to float32's but not equal, the same
    on a second computation, in a cache of their own, and asked for by a config's frozen method; where bf16 is not
    native the same call gives float32's vectors, from float32's cache."""
    import torch

    from lowdata import hardware
    from lowdata.methods import train as run
    from lowdata.ssl.embedding import _cache_dir, cached_embed
    from lowdata.ssl.graph import embed

    from .conftest import tiny_cfg

    monkeypatch.setenv("LOWDATA_CACHE", str(tmp_path / "cache"))
    seen, linear = [], torch.nn.functional.linear
    monkeypatch.setattr(torch.nn.functional, "linear", lambda *a, **k: seen.append(linear(*a, **k).dtype) or
                        linear(*a, **k))
    monkeypatch.setattr(hardware, "bf16_fast", lambda device: True)
    texts = _texts(40, 3)
    f = cached_embed(texts, tiny_model, 32)
    assert set(seen) == {torch.float32}
    seen.clear()
    b = cached_embed(texts, tiny_model, 32, bf16=True)
    assert set(seen) == {torch.bfloat16} and b.dtype == np.float32
    assert not np.array_equal(f, b) and (f * b).sum(1).min() > 0.99
    assert _cache_dir(tiny_model, 32, True) != _cache_dir(tiny_model, 32)
    seen.clear()
    assert np.array_equal(cached_embed(texts, tiny_model, 32, bf16=True), b) and not seen  # from its own cache
    assert np.array_equal(embed(texts, model=tiny_model, max_length=32, bf16=True), b)  # deterministic
    seen.clear()
    cfg = tiny_cfg(tiny_model, toy_files, tmp_path / "frozen")
    cfg.data.k_per_class, cfg.ssl.method, cfg.model.embed_bf16 = 8, "frozen_lr", True
    run(cfg)
    assert set(seen) == {torch.bfloat16}
    monkeypatch.setattr(hardware, "bf16_fast", lambda device: False)  # no native bf16: float32 whatever is asked
    assert _cache_dir(tiny_model, 32, True) == _cache_dir(tiny_model, 32)
    seen.clear()
    assert np.array_equal(cached_embed(texts, tiny_model, 32, bf16=True), f) and not seen
