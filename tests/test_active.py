import csv
import json
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
import yaml

from lowdata.active import STRATEGIES, select
from lowdata.active import strategies as S
from lowdata.active.pool import text_id
from lowdata.data import DataError


def _blobs(sizes=(60, 30, 10), H=8, seed=0, spread=0.05):
    """Well-separated Gaussian clusters on the unit sphere: (X, cluster id, centres)."""
    rng = np.random.default_rng(seed)
    cent = np.eye(H)[: len(sizes)]
    X = np.vstack([c + spread * rng.standard_normal((n, H)) for c, n in zip(cent, sizes)])
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), np.repeat(np.arange(len(sizes)), sizes), cent


def _inputs(name, X, y):
    """Whatever the strategy needs: a few labels (2 per cluster), the surrogate's probs, MC samples."""
    lab = np.concatenate([np.flatnonzero(y == c)[:2] for c in np.unique(y)])
    kw = {"X_l": X[lab], "y_l": y[lab], "n_classes": int(y.max()) + 1}
    if name == "mc_dropout":
        rng = np.random.default_rng(1)
        kw["samples"] = rng.dirichlet(np.ones(3), size=(5, len(X)))
    return kw


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_every_strategy_contract(name):
    X, y, _ = _blobs()
    kw = _inputs(name, X, y)
    idx, score = select(name, X, 12, seed=3, **kw)
    assert len(idx) == 12 == len(score) and len(set(idx.tolist())) == 12
    assert idx.min() >= 0 and idx.max() < len(X) and np.isfinite(score).all()
    again, s2 = select(name, X, 12, seed=3, **kw)
    assert again.tolist() == idx.tolist() and np.allclose(s2, score)  # same seed, same batch
    big, _ = select(name, X, 500, seed=0, **kw)  # more than the pool: the whole pool, once each
    assert len(big) <= len(X) and len(set(big.tolist())) == len(big)
    mm = np.lib.format.open_memmap(_tmpfile(), mode="w+", dtype=np.float32, shape=X.shape)
    mm[:] = X
    assert select(name, mm, 12, seed=3, **kw)[0].tolist() == idx.tolist()  # a memmap pool gives the same batch


_TMP = []


def _tmpfile():
    import tempfile

    fd, p = tempfile.mkstemp(suffix=".npy")
    os.close(fd)
    _TMP.append(p)
    return p


def test_uncertainty_strategies_rank_by_their_formula():
    P = np.array([[0.9, 0.05, 0.05], [0.4, 0.35, 0.25], [0.34, 0.33, 0.33], [0.5, 0.5, 0.0], [0.7, 0.2, 0.1]])
    X = np.eye(5, 4, dtype=np.float32)
    rng = np.random.default_rng(0)
    lc, _ = S.least_confidence(S.Pool(X, probs=P), 5, rng)
    assert lc[0] == 2 and lc[-1] == 0
    mg, sc = S.margin(S.Pool(X, probs=P), 2, rng)
    assert mg.tolist() == [3, 2] and sc[0] == pytest.approx(0.0)  # p1 - p2 = 0 first, then 0.01
    en, _ = S.entropy(S.Pool(X, probs=P), 1, rng)
    assert en[0] == 2
    T = np.stack([P, P[:, ::-1]])  # passes that disagree on rows 0 and 4, agree on the uniform-ish row 2
    bald, _ = S.mc_dropout(S.Pool(X, samples=T), 5, rng)
    assert bald[-1] == 2 and bald[0] in (0, 3)
    with pytest.raises(Exception, match="needs a model"):
        select("margin", X, 2)


def test_cold_start_strategies_cover_the_clusters():
    X, y, cent = _blobs((60, 30, 10))
    for name in ("kmeans", "typiclust"):
        idx, _ = select(name, X, 3, seed=0)
        assert sorted(y[idx].tolist()) == [0, 1, 2], name
    idx, _ = select("typiclust", X, 3, seed=0)
    for i in idx:  # the most typical point of a cluster lies near its centre
        assert X[i] @ cent[y[i]] > np.median(X[y == y[i]] @ cent[y[i]])
    ci, _ = select("coreset", X, 3, X_l=X[:1], y_l=y[:1], seed=0)
    assert set(y[ci].tolist()) == {1, 2}  # farthest from the labeled cluster 0 first
    far = np.argmax(((X - X[0]) ** 2).sum(1))
    assert ci[0] == far


def test_probcover_covers_the_densest_balls_first():
    """ProbCover (Yehuda et al. 2022): one pick per cluster, the biggest first, together covering all; a
    labeled cluster is covered already; past full coverage, random; no class count, a clear error."""
    X, y, _ = _blobs((60, 30, 10))
    idx, score = select("probcover", X, 3, n_classes=3, seed=0)
    assert sorted(y[idx].tolist()) == [0, 1, 2]
    assert score.sum() == len(X) and (np.diff(score) <= 0).all()  # 3 balls cover all; gains never grow (greedy)
    assert score[0] >= 60  # the radius reaches across the first cluster (95% pure balls may take a few strays)
    first, _ = select("probcover", X[y > 0], 1, X_l=X[y == 0][:5], y_l=np.zeros(5, int), n_classes=3, seed=0)
    assert y[y > 0][first[0]] == 1  # cluster 0 is labeled, so the biggest uncovered cluster is 1
    more, sc = select("probcover", X, 100, n_classes=3, seed=0)  # past full coverage: seeded random picks
    assert len(set(more.tolist())) == 100 and sc[-1] == 0
    with pytest.raises(Exception, match="needs the number of classes"):
        select("probcover", X, 3, seed=0)


def test_badge_first_pick_is_the_largest_gradient_and_batches_are_diverse():
    X, y, _ = _blobs((40, 40), H=6)
    P = np.full((len(X), 2), 0.5)
    P[:5] = [0.99, 0.01]  # confident: gradient embedding near 0
    idx, _ = S.badge(S.Pool(X, probs=P), 6, np.random.default_rng(0))
    assert idx[0] >= 5 and set(y[idx].tolist()) == {0, 1}


def test_wkmeans_spreads_a_batch_that_margin_piles_on_one_confusion():
    """Zhdanov 2019: 30 near-copies of the most uncertain point, and 3 other uncertain groups; margin's 4 picks are
    all copies, wkmeans' 4 come from 4 groups (each the point nearest its weighted centre)."""
    rng = np.random.default_rng(0)
    centres = np.eye(8)[:5]
    X = np.concatenate([centres[0] + 0.001 * rng.normal(size=(30, 8))] +
                       [c + 0.05 * rng.normal(size=(10, 8)) for c in centres[1:]])
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    group = np.repeat(np.arange(5), [30, 10, 10, 10, 10])
    gap = np.where(group == 0, 0.0, np.where(group == 4, 0.9, 0.2))  # group 4: confident
    P = np.stack([(1 + gap) / 2, (1 - gap) / 2], 1)
    m, _ = S.margin(S.Pool(X, probs=P), 4, np.random.default_rng(0))
    w, score = S.wkmeans(S.Pool(X, probs=P), 4, np.random.default_rng(0))
    assert set(group[m].tolist()) == {0}
    assert sorted(group[w].tolist()) == [0, 1, 2, 3] and score[0] == 1.0 and np.all(np.diff(score) <= 0)


def test_committee_prefers_the_boundary():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(-1, 0.3, (30, 2)), rng.normal(1, 0.3, (30, 2)), [[0.0, 0.0]], [[3.0, 3.0]]])
    y = np.r_[np.zeros(30, int), np.ones(30, int)]
    lab = np.r_[0:6, 30:36]
    s = np.zeros(len(X))
    idx, sc = S.committee(S.Pool(X, X_l=X[lab], y_l=y[lab]), len(X), rng)
    s[idx] = sc
    assert s[60] >= s[61]  # the point between the classes is at least as contested as one far inside a class


def test_balance_spreads_the_batch_over_predicted_classes():
    X, y, _ = _blobs((80, 10, 10))
    P = np.eye(3)[y] * 0.6 + 0.4 / 3
    P[:80, 0], P[:80, 1] = 0.45, 0.35  # class 0 the most uncertain: an unbalanced batch would be all class 0
    idx, _ = select("least_confidence", X, 6, probs=P, balance=True, seed=0)
    assert np.bincount(P[idx].argmax(1), minlength=3).tolist() == [2, 2, 2]
    plain, _ = select("least_confidence", X, 6, probs=P, seed=0)
    assert set(P[plain].argmax(1).tolist()) == {0}


def test_selection_streams_a_large_memmap_pool_in_bounded_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(S, "CHUNK", 8192)  # blocks small against the pool, as 65,536 rows are against 1M
    N, H = 300_000, 32
    X = np.lib.format.open_memmap(str(tmp_path / "X.npy"), mode="w+", dtype=np.float32, shape=(N, H))
    rng = np.random.default_rng(0)
    for s in range(0, N, 50_000):
        v = rng.standard_normal((min(50_000, N - s), H)).astype(np.float32)
        X[s:s + len(v)] = v / np.linalg.norm(v, axis=1, keepdims=True)
    X.flush()
    X = np.load(str(tmp_path / "X.npy"), mmap_mode="r")
    P = rng.dirichlet(np.ones(4), N)
    import sklearn.cluster  # noqa: F401  imported before tracing: a first import's module objects are ~90 MB
    for name in ("coreset", "margin", "badge", "typiclust"):
        tracemalloc.start()
        idx, _ = select(name, X, 20, probs=P, seed=0)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert len(set(idx.tolist())) == 20
        # blocks, (N,) and (N, C) arrays, k-means' seeded 100k-row sample: never a copy of the whole pool
        assert peak < 0.5 * X.nbytes + 3 * P.nbytes, (name, peak)


def test_pool_vectors_stream_to_disk_resume_and_match_embed(tiny_model, tmp_path, monkeypatch):
    from lowdata.active import pool
    from lowdata.ssl import graph

    monkeypatch.setenv("LOWDATA_CACHE", str(tmp_path / "cache"))
    texts = [f"text number {i} {'x' * (i % 7)}" for i in range(50)]
    calls = []
    real = graph.embed
    monkeypatch.setattr(graph, "embed", lambda t, **k: calls.append(len(t)) or real(t, **k))
    X = pool.pool_vectors(texts, tiny_model, 32, chunk=16, progress=False)
    assert calls == [16, 16, 16, 2] and isinstance(X, np.memmap)
    assert np.allclose(X, real(texts, model=tiny_model, max_length=32), atol=1e-5)
    d = pool._dir(texts, tiny_model, 32)
    with open(os.path.join(d, "done.txt"), "w") as f:
        f.write("32")  # as if killed after two chunks
    calls.clear()
    X2 = pool.pool_vectors(texts, tiny_model, 32, chunk=16, progress=False)
    assert calls == [16, 2] and np.allclose(X2, X)
    calls.clear()
    pool.pool_vectors(texts, tiny_model, 32, chunk=16, progress=False)
    assert calls == []
    from lowdata import hardware

    monkeypatch.setattr(hardware, "bf16_fast", lambda device: True)  # lowdata select --bf16 where bf16 is native
    B = pool.pool_vectors(texts, tiny_model, 32, chunk=16, progress=False, bf16=True)
    assert calls == [16, 16, 16, 2] and pool._dir(texts, tiny_model, 32, True) != d  # its own vectors, kept apart
    assert np.array_equal(B, real(texts, model=tiny_model, max_length=32, bf16=True)) and not np.array_equal(B, X)


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "lowdata.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})


@pytest.fixture
def al_files(tmp_path, monkeypatch):
    monkeypatch.setenv("LOWDATA_CACHE", str(tmp_path / "cache"))
    pos, neg = ["good", "great", "fine", "nice"], ["bad", "awful", "poor", "worse"]
    rng = np.random.default_rng(0)
    pool = [f"{' '.join(rng.choice(pos if i % 2 else neg, 3))} film {i}" for i in range(40)]
    (tmp_path / "pool.txt").write_text("\n".join(pool + pool[:3]) + "\n")  # three repeated texts
    lab = [("good great film", "pos"), ("nice fine film", "pos"), ("bad awful film", "neg"), ("poor worse film", "neg"),
           (pool[0], "neg")]
    (tmp_path / "lab.tsv").write_text("text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in lab))
    return tmp_path, pool, lab


def test_select_prints_the_expected_gain_and_its_caveat_for_uncertainty(tiny_model, al_files):
    d, pool, _ = al_files
    lab = [(t, "pos" if i % 2 else "neg") for i, t in enumerate(pool[10:26])]  # 16 labels: the gain is estimated
    (d / "lab16.tsv").write_text("text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in lab))
    for strategy, caveat in (("margin", True), ("random", False)):
        r = _cli("select", "--pool", str(d / "pool.txt"), "--labeled", str(d / "lab16.tsv"), "--n", "4", "--strategy",
                 strategy, "--backbone", tiny_model, "--max-length", "32", "-o", str(d / f"{strategy}.csv"),
                 "--no-progress")
        assert r.returncode == 0, r.stderr
        assert "expected from the labels alone" in r.stdout
        assert ("bought by an uncertainty strategy" in r.stdout) == caveat


@pytest.mark.parametrize("ext", ["csv", "jsonl", "json"])
def test_select_and_merge_round_trip(tiny_model, al_files, ext):
    d, pool, lab = al_files
    out = d / f"to_label.{ext}"
    r = _cli("select", "--pool", str(d / "pool.txt"), "--labeled", str(d / "lab.tsv"), "--n", "6", "--strategy",
             "margin", "--backbone", tiny_model, "--max-length", "32", "-o", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    side = json.loads((d / f"to_label.{ext}.lowdata.json").read_text())
    assert len(side["ids"]) == 6 and side["pool_size"] == 39 and side["left_out"] == 4  # 3 repeats + 1 labeled
    assert pool[0] not in side["texts"] and all(text_id(t) == i for t, i in zip(side["texts"], side["ids"]))
    assert 'Choices name="label"' in side["label_studio_config"]
    # the annotator fills in labels
    truth = {t: ("pos" if int(t.split()[-1]) % 2 else "neg") for t in side["texts"]}
    if ext == "csv":
        rows = list(csv.DictReader(open(out)))
        assert [r_["id"] for r_ in rows] == side["ids"] and all(r_["guess"] in ("pos", "neg") for r_ in rows)
        for r_ in rows:
            r_["label"] = truth[r_["text"]]
        with open(d / "done.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        annotated = d / "done.csv"
    elif ext == "jsonl":
        rows = [json.loads(ln) for ln in open(out)]
        annotated = d / "done.jsonl"
        annotated.write_text("".join(json.dumps({**r_, "label": truth[r_["text"]]}) + "\n" for r_ in rows))
    else:
        tasks = json.loads(out.read_text())
        assert tasks[0]["predictions"][0]["result"][0]["value"]["choices"][0] in ("pos", "neg")
        for t in tasks:
            t["annotations"] = [{"was_cancelled": True, "result": [{"value": {"choices": ["neg"]}}]},
                                {"result": [{"from_name": "label", "to_name": "text", "type": "choices",
                                             "value": {"choices": [truth[t["data"]["text"]]]}}]}]
        annotated = d / "export.json"
        annotated.write_text(json.dumps(tasks))
    r = _cli("merge", "--annotated", str(annotated), "--batch", str(out), "--labeled", str(d / "lab.tsv"),
             "-o", str(d / "lab2.tsv"))
    assert r.returncode == 0, r.stderr
    from lowdata.data import read

    new = read(str(d / "lab2.tsv"))
    assert list(zip(new.texts, new.labels))[:5] == lab  # every old row kept, first, unchanged
    assert dict(zip(new.texts[5:], new.labels[5:])) == truth and len(new) == 11
    assert (d / "lab.tsv").read_text().count("\n") == 6  # the input untouched


def test_select_auto_is_typiclust_cold_and_wkmeans_once_two_classes_are_labeled(tiny_model, al_files):
    from lowdata.active.run import select_file

    d, pool, lab = al_files
    kw = {"backbone": tiny_model, "max_length": 32, "progress": False}
    (d / "one.tsv").write_text("text\tlabel\ngood great film\tpos\n")
    cases = [({}, "typiclust"), ({"labeled": str(d / "one.tsv")}, "typiclust"), ({"labeled": str(d / "lab.tsv")},
                                                                                  "wkmeans")]
    for i, (extra, expected) in enumerate(cases):
        r = select_file(str(d / "pool.txt"), str(d / f"a{i}.csv"), "auto", 4, **kw, **extra)
        assert (r["strategy"], r["asked"]) == (expected, "auto")
        select_file(str(d / "pool.txt"), str(d / f"b{i}.csv"), expected, 4, **kw, **extra)
        assert (d / f"a{i}.csv").read_text() == (d / f"b{i}.csv").read_text()


def test_select_probcover_cold_start_needs_classes(tiny_model, al_files):
    from lowdata.active.run import select_file
    from lowdata.errors import LowdataError

    d, pool, lab = al_files
    kw = {"backbone": tiny_model, "max_length": 32, "progress": False}
    with pytest.raises(LowdataError, match="--classes"):
        select_file(str(d / "pool.txt"), str(d / "p.csv"), "probcover", 4, **kw)
    assert not (d / "p.csv").exists()
    r = select_file(str(d / "pool.txt"), str(d / "p.csv"), "probcover", 4, classes=2, **kw)
    rows = list(csv.DictReader(open(d / "p.csv")))
    assert r["n"] == 4 == len(rows) and len({x["id"] for x in rows}) == 4


def _batch(d, tiny_model):
    r = _cli("select", "--pool", str(d / "pool.txt"), "--n", "4", "--strategy", "typiclust", "--backbone",
             tiny_model, "--max-length", "32", "-o", str(d / "b.csv"), "--no-progress")
    assert r.returncode == 0, r.stderr
    return list(csv.DictReader(open(d / "b.csv")))


def _write(d, rows, name="ann.csv"):
    with open(d / name, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["id", "text", "label"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return d / name


def test_merge_refuses_bad_annotations_naming_the_line(tiny_model, al_files):
    from lowdata.active.roundtrip import merge

    d, pool, lab = al_files
    rows = _batch(d, tiny_model)
    good = [{**r, "label": "pos"} for r in rows]
    cases = {
        "no id": [{**good[0], "id": ""}] + good[1:],
        "duplicate id": good + [good[0]],
        "unknown id": good[:-1] + [{**good[-1], "id": "0123456789abcdef"}],
        "was changed": [{**good[0], "text": "something else"}] + good[1:],
        "unknown label": [{**good[0], "label": "maybe"}] + good[1:],
        "have no label": [{**good[0], "label": ""}] + good[1:],
    }
    for what, rs in cases.items():
        with pytest.raises(DataError, match=what) as e:
            merge(str(_write(d, rs)), str(d / "lab.tsv"), str(d / "out.tsv"), batch=str(d / "b.csv"))
        if what != "have no label":
            assert "ann.csv" in str(e.value) and "line" in str(e.value)
        assert not (d / "out.tsv").exists()
    # a text already labeled differently is never relabeled silently
    (d / "lab_b.tsv").write_text("text\tlabel\n" + f"{rows[0]['text']}\tneg\nsome other film\tpos\n")
    with pytest.raises(DataError, match="would relabel"):
        merge(str(_write(d, good)), str(d / "lab_b.tsv"), str(d / "out.tsv"), batch=str(d / "b.csv"))
    # the same label again is fine (counted), --partial merges the labeled part, outputs are never overwritten
    part = [{**good[0], "label": "neg"}, {**good[1], "label": ""}]
    r = merge(str(_write(d, part)), str(d / "lab_b.tsv"), str(d / "out.tsv"), batch=str(d / "b.csv"), partial=True)
    assert r == {"kept": 2, "added": 0, "already_labeled": 1, "left_unlabeled": 3, "total": 2}
    with pytest.raises(FileExistsError):
        merge(str(_write(d, good)), str(d / "lab.tsv"), str(d / "out.tsv"), batch=str(d / "b.csv"))
    r = _cli("merge", "--annotated", str(_write(d, good)), "--batch", str(d / "b.csv"), "--labeled", str(d / "lab.tsv"),
             "-o", str(d / "lab.tsv"))
    assert r.returncode == 2 and "never writes over its input" in r.stderr
    r = _cli("merge", "--annotated", str(_write(d, good)), "--labeled", str(d / "lab.tsv"), "-o", str(d / "x.tsv"))
    assert r.returncode == 2 and "no selection record" in r.stderr


def test_select_with_a_model_and_mc_dropout(tiny_model, toy_files, tmp_path, al_files):
    from lowdata.methods import train

    from .conftest import tiny_cfg

    d, pool, lab = al_files
    train(tiny_cfg(tiny_model, toy_files, tmp_path / "run", epochs=1))
    for i, strat in enumerate(("mc_dropout", "badge", "entropy")):
        r = _cli("select", "--pool", str(d / "pool.txt"), "--model", str(tmp_path / "run" / "model"), "--n", "5",
                 "--strategy", strat, "-o", str(d / f"{strat}.csv"), "--no-progress", "--history", str(d / "h.json"))
        assert r.returncode == 0, r.stderr
        rows = list(csv.DictReader(open(d / f"{strat}.csv")))
        assert len(rows) == 5 and {r_["guess"] for r_ in rows} <= {"pos", "neg"}
        assert ("round 1 recorded" if i == 0 else "the same labels (or model) as round 1") in r.stdout
    r = _cli("select", "--pool", str(d / "pool.txt"), "--n", "5", "--strategy", "margin", "-o", str(d / "m.csv"))
    assert r.returncode == 2 and "needs --labeled or --model" in r.stderr
    r = _cli("select", "--pool", str(d / "pool.txt"), "--n", "5", "--strategy", "nope", "-o", str(d / "m.csv"))
    assert r.returncode == 2 and "valid:" in r.stderr


def test_stopping_rules():
    from lowdata.active.stopping import next_batch_gain, stabilizing_predictions

    a = np.array([0, 1] * 50)
    b = a.copy()
    b[:10] = 1 - b[:10]
    assert stabilizing_predictions([b, a, a, a, a]) == 4  # kappa(b, a) < 0.99, then three stable rounds
    assert stabilizing_predictions([b, a, b, a]) is None
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(-0.3, 1, (60, 5)), rng.normal(0.3, 1, (60, 5))])
    y = np.r_[np.zeros(60, int), np.ones(60, int)]
    g = next_batch_gain(X, y, batch=100, target=0.99)
    assert g["extrapolated"] and g["accuracy_after"] >= g["accuracy_now"] and 0.5 < g["ceiling"] <= 1.0
    assert g["fitted_labels"][1] < len(y) and "labels_for_target" in g
    lo, hi = g["gain_ci"]
    assert lo <= hi and lo - 1e-9 <= g["gain"] <= hi + 1e-9, g
    assert next_batch_gain(X, y, batch=100, target=0.99) == g  # seeded: the same interval again
    assert "gain_ci" not in next_batch_gain(X, y, batch=100, boot=0)
    from lowdata.active.stopping import stop_by_gain

    small, noisy = {"gain": 0.002, "gain_ci": (-0.01, 0.004)}, {"gain": 0.002, "gain_ci": (-0.03, 0.05)}
    assert stop_by_gain(small, 0.01) and stop_by_gain(noisy, 0.01) and stop_by_gain(small, 0.01, "upper")
    assert not stop_by_gain(noisy, 0.01, "upper") and not stop_by_gain({"error": "x"}, 0.01)
    assert g["learning"] and g["chance"] == 0.5
    # labels that carry no signal: at chance, so no gain rule stops there however flat the curve
    noise = next_batch_gain(rng.normal(0, 1, (40, 5)), np.r_[np.zeros(20, int), np.ones(20, int)], batch=40)
    assert not noise["learning"] and noise["above_chance_p"] > 0.05
    flat = {**noise, "gain": 0.0, "gain_ci": (0.0, 0.001)}
    assert not stop_by_gain(flat, 0.01) and not stop_by_gain(flat, 0.01, "upper") and stop_by_gain(flat, 0.01,
                                                                                                   guard=False)


def test_trajectory_buys_labels_only_as_it_goes():
    from lowdata.active.simulate import trajectory

    X, y, _ = _blobs((40, 40, 40), H=6, spread=0.3)
    t = trajectory(X, y, [6, 12, 24], "margin", 0, 3)
    assert len(t["chosen"]) == 24 and len(set(t["chosen"])) == 24
    assert [s["strategy"] for s in t["steps"]] == ["typiclust", "margin", "margin"]  # the default cold start
    assert t["chosen"][:6] == trajectory(X, y, [6], "typiclust", 0, 3)["chosen"]
    assert [s["strategy"] for s in trajectory(X, y, [6, 12], "margin", 0, 3, "random")["steps"]] == ["random", "margin"]
    # balance spreads the strategies' batches, never the control's
    r = trajectory(X, y, [6, 12, 24], "random", 0, 3)
    rb = trajectory(X, y, [6, 12, 24], "random", 0, 3, balance=True)
    assert rb["chosen"] == r["chosen"] and not rb["balance"]
    assert trajectory(X, y, [6, 12, 24], "margin", 0, 3, balance=True)["balance"]
    # hiding works: labels of rows not bought by step 2 cannot change what steps 1-2 buy
    y2 = y.copy()
    hidden = np.setdiff1d(np.arange(len(y)), t["chosen"][:12])
    y2[hidden] = np.random.default_rng(5).permutation(y2[hidden])
    assert trajectory(X, y2, [6, 12], "margin", 0, 3)["chosen"] == t["chosen"][:12]
    assert trajectory(X, y, [6, 12, 24], "margin", 0, 3)["chosen"] == t["chosen"]  # deterministic
    with pytest.raises(Exception, match="needs a trained model"):
        trajectory(X, y, [6], "mc_dropout", 0, 3)


def test_study_buys_at_extra_batch_boundaries_without_training_there(tiny_model, toy_files, tmp_path, monkeypatch):
    """acquisition.buy_at: the loop closes a batch at 2 per class (cold start), then margin buys the rest of 4 per
    class; only the 4-per-class cells are trained, and a resumed study with other boundaries is refused. Budgets grown
    past the stored batches extend the trajectories; a boundary inside them is refused."""
    from lowdata.config import ConfigError, to_dict
    from lowdata.studies.study import load_study, run_study, write_report

    from .conftest import tiny_cfg

    monkeypatch.setenv("LOWDATA_CACHE", str(tmp_path / "cache"))
    base = to_dict(tiny_cfg(tiny_model, toy_files, "unused"))
    base["data"]["dev"] = None
    base["ssl"]["method"] = "frozen_lr"
    st = {"base": base, "budgets": [4], "seeds": [0], "methods": {"lr": {}}, "baseline": "lr",
          "acquisition": {"strategies": ["random", "margin"], "buy_at": [2]}, "output_dir": str(tmp_path / "study")}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(st))
    s = load_study(str(tmp_path / "s.yaml"))
    res = run_study(s)
    assert "batches also close at [2] labels per class (no cells there)" in write_report(s, res)[0]
    assert res["cells"] == 2 and sorted(os.listdir(tmp_path / "study" / "cells")) == ["lr@margin-4-0",
                                                                                      "lr@random-4-0"]
    tr = json.load(open(tmp_path / "study" / "acquisition" / "margin-0.json"))
    assert [s["total"] for s in tr["steps"]] == [4, 8] and tr["buy_at"] == [2]
    assert [s["strategy"] for s in tr["steps"]] == ["typiclust", "margin"]  # the cold start, then margin
    plain = {**st, "acquisition": {"strategies": ["random", "margin"]}, "output_dir": str(tmp_path / "plain")}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(plain))
    run_study(load_study(str(tmp_path / "p.yaml")))
    one = json.load(open(tmp_path / "plain" / "acquisition" / "margin-0.json"))
    assert [s["strategy"] for s in one["steps"]] == ["typiclust"] and "buy_at" not in one  # one batch, no margin
    # budgets grown past the stored batches: the trajectories are extended, their bought rows kept as they were
    grown = {**plain, "budgets": [4, 8]}
    (tmp_path / "g.yaml").write_text(yaml.safe_dump(grown))
    run_study(load_study(str(tmp_path / "g.yaml")))
    longer = json.load(open(tmp_path / "plain" / "acquisition" / "margin-0.json"))
    assert longer["chosen"][:8] == one["chosen"] and len(longer["chosen"]) == 16
    assert json.load(open(tmp_path / "plain" / "cells" / "lr@margin-8-0" / "metrics.json"))["n_train"] == 16
    inside = {**plain, "budgets": [3, 4, 8]}  # a boundary inside the bought batches would change later rows
    (tmp_path / "i.yaml").write_text(yaml.safe_dump(inside))
    with pytest.raises(ConfigError, match=r"-0.json: bought in batches ending at \[8, 16\] labels; this "
                                          r"study's budgets need \[6, 8, 16\]"):
        run_study(load_study(str(tmp_path / "i.yaml")))
    os.remove(tmp_path / "plain" / "study.spec.json")  # the trajectory itself says how it was bought
    (tmp_path / "plain" / "acquisition" / "margin-0.json").write_text(json.dumps(tr))
    with pytest.raises(ConfigError, match=r"margin-0.json: bought with acquisition.buy_at \[2\], the study now "
                                          r"means \[\]"):
        run_study(load_study(str(tmp_path / "p.yaml")))
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({**st, "acquisition": {"strategies": ["random"],
                                                                             "buy_at": [0]}}))
    with pytest.raises(ConfigError, match=r"bad.yaml: acquisition.buy_at: expected a list of integers >= 1"):
        load_study(str(tmp_path / "bad.yaml"))


def test_curve_study_with_an_acquisition_axis(tiny_model, toy_files, tmp_path, monkeypatch):
    from lowdata.config import to_dict
    from lowdata.studies.study import load_study, run_study, write_report

    from .conftest import tiny_cfg

    monkeypatch.setenv("LOWDATA_CACHE", str(tmp_path / "cache"))
    base = to_dict(tiny_cfg(tiny_model, toy_files, "unused"))
    base["data"]["dev"] = None
    base["ssl"]["method"] = "frozen_lr"
    st = {"base": base, "budgets": [2, 4, 8], "seeds": [0, 1], "methods": {"lr": {}}, "baseline": "lr",
          "acquisition": {"strategies": ["random", "margin", "typiclust"]}, "output_dir": str(tmp_path / "study")}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(st))
    s = load_study(str(tmp_path / "s.yaml"))
    res = run_study(s)
    assert res["cells"] == 18 and res["baseline"] == "lr@random"
    for m in ("lr@margin", "lr@typiclust"):
        assert "worth_vs_random" in res["methods"][m] and len(res["methods"][m]["worth_vs_random"]) == 3
    tr = json.load(open(tmp_path / "study" / "acquisition" / "margin-1.json"))
    cell = json.load(open(tmp_path / "study" / "cells" / "lr@margin-4-1" / "metrics.json"))
    assert cell["n_train"] == 8  # budget 4 x 2 classes, bought by margin
    from lowdata.data import read

    train = read(str(toy_files / "train.tsv"))
    assert sorted(tr["lines"][:8]) == sorted(train.lines[i] for i in tr["chosen"][:8])
    md, _ = write_report(s, res)
    assert "worth in random labels" in md and "| lr@margin |" in md
    assert "first batch of a strategy that needs labels by `typiclust`; class balance off" in md
    # the trajectories on disk were bought with the default cold start: resuming under another one must not mix them
    other = {**st, "acquisition": {**st["acquisition"], "cold_start": "random"}}
    (tmp_path / "s2.yaml").write_text(yaml.safe_dump(other))
    with pytest.raises(Exception, match="acquisition.cold_start changed"):
        run_study(load_study(str(tmp_path / "s2.yaml")))
    os.remove(tmp_path / "study" / "study.spec.json")  # a study from before the record: the trajectory itself says
    with pytest.raises(Exception, match=r"margin-0.json: bought with acquisition.cold_start 'typiclust', the study now "
                                        r"means 'random'"):
        run_study(load_study(str(tmp_path / "s2.yaml")))
    (tmp_path / "study" / "acquisition" / "margin-0.json").write_text('{"strategy": "margin"')  # cut short
    with pytest.raises(Exception, match=r"margin-0.json: unreadable trajectory .*delete it"):
        run_study(s)
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({**st, "acquisition": {"strategies": ["nope"]}}))
    with pytest.raises(Exception, match="valid:"):
        load_study(str(tmp_path / "bad.yaml"))
