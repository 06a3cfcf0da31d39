"""Pool vectors streamed to disk: a pool of any size is embedded chunk by chunk into a memory-mapped .npy, resumable,
so selecting over 1M texts holds one chunk of vectors in memory, not the pool.

    ids = [text_id(t) for t in texts]
    X = pool_vectors(texts, "minilm", max_length=128)     # np.memmap (N, H), float32, L2-normalised

The file lives in `LOWDATA_CACHE/pools/<key>/` (key: the model, max_length and the pool's text ids), written as
vecs.npy (preallocated) plus done.txt (rows finished, updated after each chunk is flushed): a killed run resumes at
the last finished chunk, and a second run over the same pool embeds nothing.
"""
from __future__ import annotations

import hashlib
import os

import numpy as np


def text_id(text: str) -> str:
    """A text's stable id: the first 16 hex digits of its SHA-1 (the same text gets the same id in every file)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def _dir(texts: list[str], model: str, max_length: int, bf16: bool = False) -> str:
    from ..ssl.embedding import _cache_dir

    h = hashlib.sha1()
    for t in texts:
        h.update(hashlib.sha1(t.encode("utf-8")).digest())
    base = os.path.dirname(os.path.dirname(_cache_dir(model, max_length)))  # LOWDATA_CACHE
    key = hashlib.sha1(f"{os.path.basename(_cache_dir(model, max_length, bf16))}|{h.hexdigest()}".encode()).hexdigest()
    return os.path.join(base, "pools", key[:16])


def pool_vectors(texts: list[str], model: str, max_length: int = 128, chunk: int = 4096,
                 progress: bool = True, bf16: bool = False) -> np.ndarray:
    """(N, H) float32 vectors of `texts` as a read-only memmap, embedding only the chunks not on disk yet.
    bf16: computed under bf16 autocast where the hardware runs it natively (ssl.graph.embed), kept apart."""
    from numpy.lib.format import open_memmap
    from tqdm.auto import tqdm

    from ..ssl.graph import embed, load_for_embedding

    d = _dir(texts, model, max_length, bf16)
    os.makedirs(d, exist_ok=True)
    path, done_path = os.path.join(d, "vecs.npy"), os.path.join(d, "done.txt")
    done = int(open(done_path).read().strip() or 0) if os.path.exists(done_path) else 0
    N = len(texts)
    if done < N:
        enc = load_for_embedding(model)
        H = enc[0].config.hidden_size
        if not os.path.exists(path) or done == 0:
            open_memmap(path, mode="w+", dtype=np.float32, shape=(N, H)).flush()
        X = open_memmap(path, mode="r+")
        if X.shape != (N, H):  # a file from another pool (should not happen: the key is the texts)
            X = open_memmap(path, mode="w+", dtype=np.float32, shape=(N, H))
            done = 0
        with tqdm(total=N, initial=done, desc="embed pool", unit="text", disable=not progress,
                  dynamic_ncols=True) as bar:
            for s in range(done, N, chunk):
                X[s:s + chunk] = embed(texts[s:s + chunk], model=model, max_length=max_length, encoder=enc, bf16=bf16)
                X.flush()
                tmp = f"{done_path}.{os.getpid()}.tmp"
                with open(tmp, "w") as f:
                    f.write(str(min(N, s + chunk)))
                os.replace(tmp, done_path)  # after the flush: done.txt never counts a row that is not on disk
                bar.update(min(N, s + chunk) - s)
        del X
    return np.load(path, mmap_mode="r")
