"""`lowdata select`: the texts of a pool to label next, written for annotation.

    lowdata select --pool unlabeled.txt --n 40 -o to_label.csv       # auto: typiclust now, wkmeans once labels exist
    lowdata select --pool unlabeled.txt --n 40 --strategy typiclust -o to_label.csv                 # cold start
    lowdata select --pool unlabeled.txt --n 40 --strategy probcover --classes 4 -o to_label.csv     # cold start
    lowdata select --pool unlabeled.txt --labeled labeled.tsv --n 40 --strategy margin -o to_label.json
    lowdata select --pool unlabeled.txt --model runs/x/model --n 40 --strategy badge -o to_label.csv
    lowdata merge --annotated to_label.csv --labeled labeled.tsv -o labeled_v2.tsv

Vectors: without --model, the backbone's mean-pooled vectors, streamed to disk (lowdata.active.pool), and the
uncertainty strategies read a frozen-LR surrogate fitted on the --labeled texts; with --model, the model's own
sentence features and class probabilities (mc_dropout: 10 passes with dropout on). Texts already in --labeled and
repeated pool texts are left out. With --labeled, the report also estimates from the labels alone (cross-validated
learning curve, lowdata.active.stopping) what the next batch should gain.
"""
from __future__ import annotations

import time

import numpy as np

MC_PASSES = 10  # MC-dropout forward passes (Gal et al. 2017 use 10-100; 10 keeps a CPU run short)


def model_outputs(model_dir: str, texts: list[str], passes: int = 0, batch_size: int = 64):
    """(features (N, H), probs (N, C), samples (T, N, C) or None) of a lowdata model over `texts`: the head's input
    vectors, its softmax, and `passes` extra forward passes with dropout on (MC dropout)."""
    import torch

    from ..backbone import TaskModel
    from ..batching import lengths

    model, tok, meta = TaskModel.load(model_dir)
    if meta["task"] != "classify":
        from ..errors import ModelError

        raise ModelError(f"{model_dir}: a {meta['task']} model (active selection needs a classifier)")
    ids = tok(texts, truncation=True, max_length=meta["max_length"])["input_ids"]
    order = np.argsort(-lengths([{"input_ids": x} for x in ids]), kind="stable")
    F = np.zeros((len(texts), model.encoder.config.hidden_size), np.float32)
    P = np.zeros((len(texts), model.head.out_features), np.float32)
    S = np.zeros((passes, len(texts), model.head.out_features), np.float32) if passes else None
    torch.manual_seed(0)
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            idx = order[s: s + batch_size]
            b = tok.pad({"input_ids": [ids[i] for i in idx]}, return_tensors="pt")
            model.eval()
            f = model.features(b["input_ids"], b["attention_mask"])
            F[idx] = f.numpy()
            P[idx] = torch.softmax(model.head(f), -1).numpy()
            if passes:
                model.train()  # dropout on, in the encoder and before the head
                for t in range(passes):
                    S[t, idx] = torch.softmax(model(b["input_ids"], b["attention_mask"]), -1).numpy()
    n = np.linalg.norm(F, axis=1, keepdims=True)
    return F / np.maximum(n, 1e-12), P, S


AUTO = "auto"  # lowdata select's default: typiclust with nothing labeled (or one class), wkmeans after


def select_file(pool: str, out: str, strategy: str, n: int, *, labeled: str | None = None, model: str | None = None,
                backbone: str = "minilm", max_length: int = 128, seed: int = 0, balance: bool = False,
                overwrite: bool = False, progress: bool = True, fmt: str | None = None,
                classes: int | None = None, history: str | None = None, bf16: bool = False) -> dict:
    from ..data import LabelMap, read
    from ..errors import LowdataError
    from ..runs import output_file
    from ..ssl.embedding import cached_embed
    from . import STRATEGIES, select
    from .pool import pool_vectors, text_id
    from .roundtrip import SIDE, write_batch
    from .strategies import NEEDS_LABELS, NEEDS_MODEL, NEEDS_PROBS

    asked = strategy
    if strategy != AUTO:
        STRATEGIES.factory(strategy)  # an unknown name fails before any work
    output_file(out, [p for p in (pool, labeled, model, history) if p], overwrite)
    output_file(out + SIDE, [p for p in (pool, labeled, model, history) if p], overwrite)
    hist = _history_start(history, [p for p in (pool, labeled, model) if p])
    t0 = time.time()
    P_data = read(pool, format=fmt, labeled=False)
    L_data = read(labeled, format=None) if labeled else None
    if L_data is not None and L_data.labels is None:
        raise LowdataError(f"{labeled}: no labels (expected the labeled file)")
    done = set(L_data.texts) if L_data is not None else set()
    texts, seen, skipped = [], set(), 0
    for t in P_data.texts:
        if t in seen or t in done:
            skipped += 1
            continue
        seen.add(t)
        texts.append(t)
    if not texts:
        raise LowdataError(f"{pool}: no text left to select (every pool text is already labeled)")
    if strategy == AUTO:  # chosen on MR, the design set (docs/active.md): typical points first, then diverse doubt
        strategy = "wkmeans" if model or (L_data is not None and len(set(L_data.labels)) >= 2) else "typiclust"
    if strategy in NEEDS_MODEL and not model:
        raise LowdataError(f"strategy {strategy!r} needs --model (a trained lowdata model)")
    if (strategy in NEEDS_PROBS or strategy in NEEDS_LABELS or balance) and not (model or labeled):
        raise LowdataError(f"strategy {strategy!r}{' with --balance' if balance else ''} needs --labeled or --model "
                           f"(cold start, nothing labeled yet: random, kmeans, typiclust, probcover, coreset)")
    if strategy == "probcover" and not (model or labeled or classes):
        raise LowdataError("strategy 'probcover' needs the number of classes: give --classes N (or --labeled)")
    names = LabelMap.from_data(L_data).names if L_data is not None else None
    X_l = y_l = probs = samples = None
    if model:
        X, probs, samples = model_outputs(model, texts, passes=MC_PASSES if strategy == "mc_dropout" else 0)
        from ..backbone import TaskModel

        names = TaskModel.load(model)[2]["labels"]
        if L_data is not None:
            X_l, _, _ = model_outputs(model, L_data.texts)
    else:
        X = pool_vectors(texts, backbone, max_length, progress=progress, bf16=bf16)
        if L_data is not None:
            X_l = cached_embed(L_data.texts, backbone, max_length, bf16)
    if L_data is not None:
        lm = {y: i for i, y in enumerate(names)}
        bad = sorted(set(L_data.labels) - set(lm))
        if bad:
            raise LowdataError(f"{labeled}: labels {bad} are not the model's ({', '.join(names)})")
        y_l = np.array([lm[y] for y in L_data.labels])
    idx, scores = select(strategy, X, n, X_l=X_l, y_l=y_l, probs=probs, samples=samples,
                         n_classes=len(names) if names else classes, seed=seed, balance=balance)
    if probs is None and X_l is not None and len(np.unique(y_l)) >= 2:
        from . import surrogate_probs

        probs = surrogate_probs(X_l, y_l, np.asarray(X[idx]), len(names), seed)
    elif probs is not None:
        probs = probs[idx]
    rows = [{"id": text_id(texts[i]), "text": texts[i], "score": float(s), "rank": r + 1,
             "guess": names[int(probs[r].argmax())] if probs is not None else None}
            for r, (i, s) in enumerate(zip(idx, scores))]
    record = {"strategy": strategy, "asked": asked, "balance": balance, "pool": pool, "labeled": labeled,
              "model": model,
              "backbone": None if model else backbone, "max_length": max_length, "seed": seed, "n": len(rows),
              "pool_size": len(texts), "left_out": skipped, "labels": names}
    if L_data is not None and len(L_data) >= 8 and len(set(L_data.labels)) >= 2:
        from .stopping import next_batch_gain

        record["next_batch"] = next_batch_gain(X_l, y_l, len(rows), seed=seed)
    h_new = None
    if history:
        record["stopping"] = _history_round(history, hist, texts, L_data, X_l, y_l, names, model, backbone,
                                            max_length, seed)
        h_new = record["stopping"].pop("_history")
    record["seconds"] = round(time.time() - t0, 2)
    write_batch(out, rows, record)
    if h_new is not None and (hist is None or record["stopping"]["added"]):
        from ..runs import write_json

        write_json(history, h_new)  # after the batch, so a failed batch write records no round
    return record


def _history_start(history: str | None, inputs: list[str]) -> dict | None:
    """The stabilising-predictions history (lowdata.active.history) before any work: a writable file path that is
    none of the inputs (runs.output_file; it may exist: it is updated), holding a history; None when new."""
    from ..runs import output_file
    from .history import load

    if not history:
        return None
    output_file(history, inputs, overwrite=True)
    return load(history)


def _history_round(history, hist, texts, L_data, X_l, y_l, names, model, backbone, max_length, seed) -> dict:
    """This call's round: the stop set's predictions by the model behind the selection (see lowdata.active.history);
    the updated history rides in "_history" until the batch is written."""
    from . import surrogate_probs
    from .history import add_round, labels_digest, model_digest, new

    h = hist or new(texts)
    stop = h["stop_set"]["texts"]
    if model:
        _, P, _ = model_outputs(model, stop)
        source, digest = "model", model_digest(model)
    elif L_data is not None:
        from ..ssl.embedding import cached_embed

        P = surrogate_probs(X_l, y_l, cached_embed(stop, backbone, max_length), len(names), seed)
        source, digest = f"surrogate {backbone} max_length {max_length}", labels_digest(L_data.texts, L_data.labels)
    else:  # cold start: the stop set is fixed now, the first round comes with the first labels
        return {"history": history, "stop_set": len(stop), "round": 0, "added": False, "_history": h}
    reading = add_round(h, [names[int(i)] for i in P.argmax(1)], digest,
                        len(L_data) if L_data is not None else 0, source)
    return {"history": history, "stop_set": len(stop), **reading, "_history": h}
