"""Graph-based SSL over encoder embeddings: kNN graph + label propagation/spreading (scikit-learn), or a 2-layer
GCN (Kipf & Welling, ICLR 2017) on the same graph. A fast baseline alone, or a source of pseudo-labels.

    emb = embed(texts, model="minilm")                              # (N, H) mean-pooled, L2-normalised
    probs = propagate(emb_l, labels_idx, emb_u, method="spreading", k=10, alpha=0.2)   # (U, C)
    probs = gcn(emb_l, labels_idx, emb_u, k=10, epochs=200, seed=0)

Label spreading: Zhou et al., NIPS 2003; label propagation: Zhu & Ghahramani, 2002 (sklearn's implementations).
"""
from __future__ import annotations

import numpy as np


def embed(texts: list[str], model: str = "minilm", batch_size: int = 64, max_length: int = 128,
          device: str | None = None, encoder=None, bf16: bool = False) -> np.ndarray:
    """Mean-pooled, L2-normalised sentence embeddings from any encoder (a lowdata model dir or a backbone).
    encoder: an (encoder, tokenizer) pair from `load_for_embedding`, to embed many chunks with one load.
    bf16: the encoder runs under bf16 autocast where the hardware runs bf16 natively (lowdata.hardware), float32
    elsewhere; the vectors are float32 either way (model.embed_bf16)."""
    from contextlib import nullcontext

    import torch

    from ..batching import lengths, padded_batches
    from ..hardware import bf16_fast

    enc_model, tok = encoder or load_for_embedding(model, device)
    if not texts:
        return np.zeros((0, enc_model.config.hidden_size), dtype=np.float32)
    dev = next(enc_model.parameters()).device
    ids = tok(texts, truncation=True, max_length=max_length)["input_ids"]
    # a text's vector depends on the text alone, not on its batch-mates (batching.padded_batches), else the
    # embedding cache, and k-means or margin ties downstream, would depend on what was cached before
    batches, padded = padded_batches(lengths([{"input_ids": x} for x in ids]), batch_size, max_length or 0)
    out = np.zeros((len(texts), enc_model.config.hidden_size), dtype=np.float32)
    cast = torch.autocast(dev.type, dtype=torch.bfloat16) if bf16 and bf16_fast(dev.type) else nullcontext()
    with torch.inference_mode(), cast:
        for idx in batches:
            b = tok.pad({"input_ids": [ids[i] for i in idx]}, padding="max_length", max_length=int(padded[idx[0]]),
                        return_tensors="pt")
            h = enc_model(input_ids=b["input_ids"].to(dev),
                          attention_mask=b["attention_mask"].to(dev)).last_hidden_state.float()  # pool in fp32
            m = b["attention_mask"].to(dev).unsqueeze(-1).to(h.dtype)
            v = (h * m).sum(1) / m.sum(1).clamp(min=1)
            out[idx] = torch.nn.functional.normalize(v.float(), dim=-1).cpu().numpy()
    return out


def load_for_embedding(model: str, device: str | None = None):
    """-> (encoder in eval mode on `device`, tokenizer) for `embed`: a lowdata model dir's encoder or a backbone."""
    import os

    import torch

    from ..backbone import TaskModel, load_encoder

    if os.path.exists(os.path.join(str(model), "lowdata.json")):
        tm, tok, _ = TaskModel.load(model)
        enc_model = tm.encoder
    else:
        enc_model, tok = load_encoder(model)
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return enc_model.to(dev).eval(), tok


def propagate(emb_l: np.ndarray, y_l: np.ndarray, emb_u: np.ndarray, method: str = "spreading", k: int = 10,
              alpha: float = 0.99, max_iter: int = 1000) -> np.ndarray:
    """Class probabilities (U, C) for the unlabeled points; y_l holds class ids 0..C-1.
    alpha=0.99 as in Zhou et al. (2003) (scikit-learn's default is 0.2)."""
    from sklearn.semi_supervised import LabelPropagation, LabelSpreading

    X = np.vstack([emb_l, emb_u])
    y = np.concatenate([y_l, -np.ones(len(emb_u), dtype=int)])
    if method == "spreading":
        m = LabelSpreading(kernel="knn", n_neighbors=k, alpha=alpha, max_iter=max_iter)
    elif method == "propagation":
        m = LabelPropagation(kernel="knn", n_neighbors=k, max_iter=max_iter)
    else:
        raise ValueError(f"unknown method {method!r} (valid: spreading, propagation)")
    m.fit(X, y)
    P = np.nan_to_num(m.label_distributions_[len(emb_l):], nan=0.0)
    empty = P.sum(1) <= 0  # a point no label reached (isolated in the graph): uniform, not NaN
    P[empty] = 1.0 / P.shape[1]
    return P / P.sum(1, keepdims=True)


def knn_adjacency(X: np.ndarray, k: int):
    """Symmetric kNN graph with self-loops, normalised D^-1/2 (A + I) D^-1/2 (scipy sparse)."""
    import scipy.sparse as sp
    from sklearn.neighbors import kneighbors_graph

    A = kneighbors_graph(X, k, mode="connectivity", metric="cosine", include_self=False)
    A = ((A + A.T) > 0).astype(np.float32) + sp.eye(X.shape[0], dtype=np.float32)
    d = np.asarray(A.sum(1)).ravel() ** -0.5
    return sp.diags(d) @ A @ sp.diags(d)


def gcn(emb_l: np.ndarray, y_l: np.ndarray, emb_u: np.ndarray, k: int = 10, hidden: int = 128, epochs: int = 200,
        lr: float = 0.01, weight_decay: float = 5e-4, dropout: float = 0.5, seed: int = 0) -> np.ndarray:
    """2-layer GCN on the kNN graph over all points, trained on the labeled ones -> (U, C) probabilities."""
    import torch
    import torch.nn.functional as F

    X = np.vstack([emb_l, emb_u]).astype(np.float32)
    A = knn_adjacency(X, k).tocoo()
    At = torch.sparse_coo_tensor(np.vstack([A.row, A.col]), A.data, A.shape, check_invariants=False).coalesce()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(np.asarray(y_l, dtype=np.int64))
    C = int(yt.max()) + 1
    g = torch.Generator().manual_seed(seed)
    W1 = torch.nn.Parameter(torch.empty(X.shape[1], hidden))
    W2 = torch.nn.Parameter(torch.empty(hidden, C))
    torch.nn.init.xavier_uniform_(W1, generator=g)
    torch.nn.init.xavier_uniform_(W2, generator=g)
    opt = torch.optim.Adam([W1, W2], lr=lr, weight_decay=weight_decay)
    n_l = len(emb_l)

    def forward(train: bool):
        h = torch.relu(torch.sparse.mm(At, Xt @ W1))
        if train:
            h = h * (torch.rand(h.shape, generator=g) >= dropout) / (1 - dropout)
        return torch.sparse.mm(At, h @ W2)

    for _ in range(epochs):
        opt.zero_grad()
        F.cross_entropy(forward(True)[:n_l], yt).backward()
        opt.step()
    with torch.no_grad():
        return torch.softmax(forward(False)[n_l:], -1).numpy()


def graph_probs(labeled, unlabeled, model: str = "minilm", method: str = "gcn", k: int = 10, seed: int = 0,
                max_length: int = 128, embeddings=None) -> np.ndarray:
    """(U, C) class probabilities of the unlabeled texts from a graph over frozen-encoder embeddings of the labeled
    and unlabeled texts; columns follow LabelMap.from_data(labeled). `embeddings`: optional (E_labeled, E_unlabeled)."""
    from ..data import LabelMap

    labels = LabelMap.from_data(labeled)
    if embeddings is None:
        E_l, E_u = embed(labeled.texts, model, max_length=max_length), embed(unlabeled.texts, model,
                                                                                max_length=max_length)
    else:
        E_l, E_u = embeddings
    y = np.array([labels.encode(v) for v in labeled.labels])
    return gcn(E_l, y, E_u, k=k, seed=seed) if method == "gcn" else propagate(E_l, y, E_u, method=method, k=k)


def seed_pseudo_labels(labeled, unlabeled, model: str = "minilm", method: str = "gcn", k: int = 10,
                       threshold: float = 0.0, per_class: int | None = None, seed: int = 0, max_length: int = 128,
                       embeddings=None, probs=None):
    """Graph predictions over the unlabeled pool -> a class-balanced TextData of the most confident ones, to train on
    with the labeled data (graph-seeded self-training). `embeddings`: optional (E_labeled, E_unlabeled) to reuse;
    `probs`: graph_probs() already computed.
    -> (pseudo-labeled TextData, indices into `unlabeled`, their confidences)."""
    from ..data import LabelMap, TextData
    from .pseudo_label import select

    labels = LabelMap.from_data(labeled)
    P = probs if probs is not None else graph_probs(labeled, unlabeled, model, method, k, seed, max_length, embeddings)
    keep, cls = select(P, threshold, balance=True, max_per_class=per_class)
    data = TextData([unlabeled.texts[i] for i in keep], [labels.names[c] for c in cls], source="graph pseudo-labels")
    return data, keep, P.max(1)[keep]
