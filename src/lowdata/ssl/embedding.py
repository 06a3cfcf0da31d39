"""Sentence vectors of a frozen encoder, cached on disk per text (the frozen-encoder methods, graph seeding).

    vecs = cached_embed(texts, "minilm", max_length=128)     # (N, H), mean-pooled, L2-normalised
    vecs = cached_embed(texts, "mpnet", bf16=True)           # under bf16 autocast where the hardware runs it natively

The cache lives under `LOWDATA_CACHE` (default ~/.cache/lowdata/embeddings), one folder per model, max_length and
precision, so a learning-curve study embeds each text once.
"""
from __future__ import annotations

import contextlib
import hashlib
import os

import numpy as np


def bf16_used(asked: bool) -> bool:
    """Whether vectors asked for under bf16 (model.embed_bf16) are computed so here: only where bf16 is the hardware's
    fast path on the device `embed` uses; elsewhere they are float32's, and share float32's cache."""
    import torch

    from ..hardware import bf16_fast

    return asked and bf16_fast("cuda" if torch.cuda.is_available() else "cpu")


def _cache_dir(model: str, max_length: int, bf16: bool = False) -> str:
    from ..backbone import resolve

    root = os.environ.get("LOWDATA_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "lowdata"))
    # "|2": vectors of batch-independent padding (ssl.graph.embed); older caches mixed the two. "|bf16": computed
    # under bf16 autocast, cached apart from float32's
    key = hashlib.sha1(f"{os.path.abspath(resolve(model)) if os.path.exists(resolve(model)) else model}|"
                       f"{max_length}|2{'|bf16' if bf16_used(bf16) else ''}".encode()).hexdigest()[:16]
    return os.path.join(root, "embeddings", key)


def cached_embed(texts: list[str], model: str, max_length: int = 128, bf16: bool = False) -> np.ndarray:
    """Embeddings for `texts`, computing only those not cached yet (cache: keys.npy + vecs.npy, append-only, each
    replaced atomically, vecs first; writers take a lock file, so two processes never pair one's keys with the
    other's vectors; a reader without the lock sees keys no longer than vecs, rows aligned). bf16: see
    model.embed_bf16 (ssl.graph.embed)."""
    from .graph import embed

    d = _cache_dir(model, max_length, bf16)
    keys = np.array([hashlib.sha1(t.encode()).digest()[:12] for t in texts], dtype="S12")
    old_k, old_v = _load(d)
    row = {k: i for i, k in enumerate(old_k.tolist())}
    missing = sorted({t for t, k in zip(texts, keys.tolist()) if k not in row})
    if missing:
        new_v = embed(missing, model=model, max_length=max_length, bf16=bf16)
        new_k = np.array([hashlib.sha1(t.encode()).digest()[:12] for t in missing], dtype="S12")
        os.makedirs(d, exist_ok=True)
        with _lock(os.path.join(d, "lock")):
            old_k, old_v = _load(d)  # what other writers added meanwhile
            have = set(old_k.tolist())
            fresh = [i for i, k in enumerate(new_k.tolist()) if k not in have]
            all_k = np.concatenate([old_k, new_k[fresh]])
            all_v = new_v[fresh] if old_v is None else np.vstack([old_v, new_v[fresh]])
            for name, arr in (("vecs", all_v), ("keys", all_k)):  # keys last: never more keys than vectors
                tmp = os.path.join(d, f"{name}.{os.getpid()}.tmp.npy")
                np.save(tmp, arr)
                os.replace(tmp, os.path.join(d, f"{name}.npy"))
        row = {k: i for i, k in enumerate(all_k.tolist())}
        old_v = all_v
    return old_v[[row[k] for k in keys.tolist()]]


def _load(d: str):
    """(keys, vecs) of a cache folder, vecs cut to the keys (a writer may have replaced vecs but not keys yet)."""
    if not os.path.exists(os.path.join(d, "keys.npy")):
        return np.zeros(0, "S12"), None
    k = np.load(os.path.join(d, "keys.npy"))
    v = np.load(os.path.join(d, "vecs.npy"))
    return k, v[:len(k)]


@contextlib.contextmanager
def _lock(path: str):
    """An exclusive lock file around a cache update (POSIX flock; elsewhere none, as before)."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
