"""Sentence vectors of a frozen encoder, cached on disk per text (the frozen-encoder methods, graph seeding).

    vecs = cached_embed(texts, "minilm", max_length=128)     # (N, H), mean-pooled, L2-normalised

The cache lives under `LOWDATA_CACHE` (default ~/.cache/lowdata/embeddings), one folder per model and max_length, so a
learning-curve study embeds each text once.
"""
from __future__ import annotations

import hashlib
import os
import shutil

import numpy as np

def _cache_dir(model: str, max_length: int) -> str:
    from ..backbone import resolve

    root = os.environ.get("LOWDATA_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "lowdata"))
    key = hashlib.sha1(f"{os.path.abspath(resolve(model)) if os.path.exists(resolve(model)) else model}|"
                       f"{max_length}".encode()).hexdigest()[:16]
    return os.path.join(root, "embeddings", key)


def cached_embed(texts: list[str], model: str, max_length: int = 128) -> np.ndarray:
    """Embeddings for `texts`, computing only those not cached yet (cache: keys.npy + vecs.npy, replaced
    atomically; concurrent writers can at worst embed a text twice)."""
    from .graph import embed

    d = _cache_dir(model, max_length)
    keys = np.array([hashlib.sha1(t.encode()).digest()[:12] for t in texts], dtype="S12")
    old_k, old_v = np.zeros(0, "S12"), None
    if os.path.exists(os.path.join(d, "vecs.npy")):
        old_k, old_v = np.load(os.path.join(d, "keys.npy")), np.load(os.path.join(d, "vecs.npy"))
    row = {k: i for i, k in enumerate(old_k.tolist())}
    missing = sorted({t for t, k in zip(texts, keys.tolist()) if k not in row})
    if missing:
        new_v = embed(missing, model=model, max_length=max_length)
        new_k = np.array([hashlib.sha1(t.encode()).digest()[:12] for t in missing], dtype="S12")
        all_k = np.concatenate([old_k, new_k])
        all_v = new_v if old_v is None else np.vstack([old_v, new_v])
        os.makedirs(d, exist_ok=True)
        for name, arr in (("keys", all_k), ("vecs", all_v)):  # vecs last: a reader never sees keys without vecs
            tmp = os.path.join(d, f"{name}.{os.getpid()}.tmp.npy")
            np.save(tmp, arr)
            os.replace(tmp, os.path.join(d, f"{name}.npy"))
        row.update({k: len(old_k) + i for i, k in enumerate(new_k.tolist())})
        old_v = all_v
    return old_v[[row[k] for k in keys.tolist()]]
