"""Stabilising predictions across real `lowdata select` rounds: the stop set and each round's predictions on it,
kept in a history file the user names.

    lowdata select --pool pool.txt --labeled labeled_v1.tsv --n 40 --strategy margin -o b2.csv --history rounds.json
    ... label, merge, select again with labeled_v2.tsv and the same --history ...

Bloodgood & Vijay-Shanker 2009 ("A Method for Stopping Active Learning Based on Stabilizing Predictions"): predict a
fixed unlabeled stop set after every round; stop once Cohen's kappa between successive rounds' predictions is at
least 0.99 for 3 rounds in a row (lowdata.active.stopping.stabilizing_predictions, the same rule as the simulated
loop's). The stop set is fixed by the first call: up to STOP_SET pool texts with the smallest text ids (a hash of the
text, as bench/active_stopping.py draws it; a text later bought stays in it, its label is never read). Its texts are
stored in the file, so later pools may shrink or grow. A round's predictions come from the model that drives the
selection: --model's, or without it the frozen-LR surrogate fitted on --labeled (the one the uncertainty strategies
read). Selecting again with the same labels (or the same model folder, unchanged) adds no round (it would read as a
stable one). The file is rewritten
atomically with every old round kept; a file that is not a lowdata history fails with its name and what was expected.
"""
from __future__ import annotations

import hashlib
import json
import os
import time

FORMAT = "lowdata-select-history"
STOP_SET = 1000
WINDOW, THRESHOLD = 3, 0.99  # Bloodgood & Vijay-Shanker 2009 (and small-text's StabilizingPredictions)


def labels_digest(texts: list[str], labels: list[str]) -> str:
    """The same labeled set (in any order) gives the same digest."""
    h = hashlib.sha1()
    for t, y in sorted(zip(texts, labels)):
        h.update(json.dumps([t, y], ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()[:16]


def model_digest(model_dir: str) -> str:
    """A model folder's identity: its path and each file's name, size and modification time (retraining into the
    same folder gives a new digest; selecting again with the same model does not)."""
    h = hashlib.sha1(os.path.realpath(model_dir).encode("utf-8"))
    for root, _, files in sorted(os.walk(model_dir)):
        for f in sorted(files):
            st = os.stat(os.path.join(root, f))
            h.update(f"{os.path.relpath(os.path.join(root, f), model_dir)}:{st.st_size}:{st.st_mtime_ns};".encode())
    return "model:" + h.hexdigest()[:16]


def load(path: str) -> dict | None:
    """The history in `path`, None when the file does not exist yet; a clear error for anything else."""
    from ..data.schema import DataError, json_loads

    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            h = json_loads(f.read())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not a lowdata select history ({e}); expected the JSON file an earlier "
                        f"`lowdata select --history` wrote") from None
    ok = (isinstance(h, dict) and h.get("format") == FORMAT and h.get("version") == 1
          and isinstance(h.get("stop_set"), dict) and isinstance(h.get("rounds"), list))
    if ok:
        ids, texts = h["stop_set"].get("ids"), h["stop_set"].get("texts")
        ok = isinstance(ids, list) and isinstance(texts, list) and len(ids) == len(texts) > 0
        ok = ok and all(isinstance(r, dict) and isinstance(r.get("predictions"), list)
                        and len(r["predictions"]) == len(texts) for r in h["rounds"])
    if not ok:
        raise DataError(f"{path}: not a lowdata select history (expected format {FORMAT!r} version 1 with a stop "
                        f"set and rounds of one prediction per stop-set text); it is left as it is")
    from .pool import text_id

    for i, (k, t) in enumerate(zip(h["stop_set"]["ids"], h["stop_set"]["texts"])):
        if text_id(t) != k:
            raise DataError(f"{path}: stop-set text {i + 1} does not match its id {k} (the file was edited); "
                            f"it is left as it is")
    return h


def new(pool_texts: list[str], size: int = STOP_SET) -> dict:
    from .pool import text_id

    chosen = sorted((text_id(t), t) for t in set(pool_texts))[:size]
    return {"format": FORMAT, "version": 1,
            "rule": {"paper": "Bloodgood & Vijay-Shanker 2009", "threshold": THRESHOLD, "window": WINDOW},
            "stop_set": {"ids": [k for k, _ in chosen], "texts": [t for _, t in chosen]}, "rounds": []}


def add_round(h: dict, predictions: list[str], digest: str, n_labeled: int, source: str) -> dict:
    """Append a round (unless its labels equal the last round's) and return the rule's reading:
    {"round", "kappa" (vs the previous round, None for the first), "stable" (rounds in a row at kappa >= threshold),
    "stop" (stable >= window), "added" (False: same labels as the last round, nothing appended)}."""
    from .stopping import round_kappa

    rounds = h["rounds"]
    if rounds and rounds[-1].get("labels_digest") == digest and rounds[-1].get("source") == source:
        last = rounds[-1]
        return {"round": len(rounds), "kappa": last.get("kappa"), "stable": last.get("stable", 0),
                "stop": last.get("stable", 0) >= WINDOW, "added": False}
    kappa, stable = None, 0
    if rounds:
        kappa = round_kappa(rounds[-1]["predictions"], predictions)
        stable = rounds[-1].get("stable", 0) + 1 if kappa >= THRESHOLD else 0
    rounds.append({"round": len(rounds) + 1, "labels": n_labeled, "labels_digest": digest, "source": source,
                   "kappa": kappa, "stable": stable, "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                   "predictions": list(predictions)})
    return {"round": len(rounds), "kappa": kappa, "stable": stable, "stop": stable >= WINDOW, "added": True}
