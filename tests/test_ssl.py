import json

import numpy as np
import pytest
import torch

from lowdata.ssl.masks import align, confidence_mask, sharpen, tsa_threshold
from lowdata.methods.finetune import run

from .conftest import tiny_cfg


def test_masks():
    p = torch.tensor([[0.6, 0.4], [0.97, 0.03]])
    s = sharpen(p, 0.5)
    assert torch.allclose(s[0], torch.tensor([0.36, 0.16]) / 0.52)
    assert confidence_mask(p, 0.95).tolist() == [0.0, 1.0]
    a = align(torch.tensor([[0.5, 0.5]]), torch.tensor([0.8, 0.2]), torch.tensor([0.5, 0.5]))
    assert torch.allclose(a, torch.tensor([[0.8, 0.2]]))
    assert tsa_threshold(0, 100, 4) == pytest.approx(0.25) and tsa_threshold(100, 100, 4) == pytest.approx(1.0)
    assert tsa_threshold(50, 100, 2, "linear") == pytest.approx(0.75)


def _splits(cfg, k=8):
    from lowdata.data.splits import load_splits

    cfg.data.k_per_class = k
    return load_splits(cfg.data, seed=0)


@pytest.mark.parametrize("method", ["fixmatch", "flexmatch", "uda", "gan_bert"])
def test_ssl_methods_train_and_log(method, tiny_model, toy_files, tmp_path):
    from lowdata.backbone import load_encoder
    from lowdata.ssl.fixmatch import FixMatch
    from lowdata.ssl.gan_bert import GanBert
    from lowdata.ssl.uda import UDA

    _, tok = load_encoder(tiny_model)
    accs = []
    for seed in range(3):  # one run of the tiny model swings with the seed (UDA over 20 seeds: 0.75-1.0, mean 0.95)
        cfg = tiny_cfg(tiny_model, toy_files, tmp_path / (method if seed == 0 else f"{method}{seed}"), epochs=4,
                       report_to=["tensorboard"], seed=seed)
        ssl = {"fixmatch": lambda: FixMatch(tok, threshold=0.6, mu=2),
               "flexmatch": lambda: FixMatch(tok, threshold=0.6, mu=2, flex=True),
               "uda": lambda: UDA(tok, threshold=0.5, total_steps=8),
               "gan_bert": lambda: GanBert(noise_size=16)}[method]()
        accs.append(run(cfg, _splits(cfg), ssl=ssl)["test"]["accuracy"])
    assert sum(accs) / 3 >= 0.85, accs  # the toy task is learned (chance: 0.5)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(tmp_path / method / "tb"))
    ea.Reload()
    tags = set(ea.Tags()["scalars"])
    want = {"fixmatch": "ssl/mask_rate", "flexmatch": "ssl/mask_rate", "uda": "ssl/tsa_kept",
            "gan_bert": "ssl/p_fake_gen"}[method]
    assert want in tags, tags
    if method in ("fixmatch", "uda"):  # hidden labels of the unlabeled rest -> pseudo-label accuracy is logged
        assert "ssl/pseudo_acc" in tags, tags
    if method == "gan_bert":  # the saved model is a plain classifier
        from lowdata.backbone import TaskModel

        model, _, meta = TaskModel.load(str(tmp_path / method / "model"))
        assert meta["labels"] == ["neg", "pos"] and model.head.out_features == 2


def test_fixmatch_mask_and_pseudo_accuracy(tiny_model):
    from lowdata.backbone import TaskModel, load_encoder
    from lowdata.ssl.fixmatch import FixMatch

    enc, tok = load_encoder(tiny_model)
    model = TaskModel(enc, 2).eval()
    b = tok(["good movie", "bad movie", "fine film"], padding=True, return_tensors="pt")
    u = {"input_ids": b["input_ids"], "attention_mask": b["attention_mask"], "hidden_labels": torch.tensor([1, 0, 1])}
    never = FixMatch(tok, threshold=1.01)
    loss, logs = never.loss(model, None, u, 0)
    assert loss.item() == 0.0 and logs["ssl/mask_rate"] == 0.0
    always = FixMatch(tok, threshold=0.0)
    loss, logs = always.loss(model, None, u, 0)
    assert loss.item() > 0 and logs["ssl/mask_rate"] == 1.0 and "ssl/pseudo_acc" in logs
    warm = FixMatch(tok, threshold=0.0, warmup=5)
    assert warm.loss(model, None, u, 4) == (0.0, {"ssl/warmup": 1.0}) and warm.loss(model, None, u, 5)[0].item() > 0
    da = FixMatch(tok, threshold=0.0, align=True)
    da.loss(model, None, u, 0)
    assert da.p_model is not None and da.p_model.sum().item() == pytest.approx(1.0)


def test_uda_tsa_drops_confident_labeled_examples(tiny_model):
    from lowdata.backbone import TaskModel, load_encoder
    from lowdata.ssl.uda import UDA

    enc, tok = load_encoder(tiny_model)
    model = TaskModel(enc, 2).eval()
    b = tok(["good movie", "bad movie"], padding=True, return_tensors="pt")
    batch = {**b, "labels": torch.tensor([1, 0])}
    u = {"input_ids": b["input_ids"], "attention_mask": b["attention_mask"]}
    _, logs = UDA(tok, total_steps=100).loss(model, batch, u, 0)  # eta = 1/2 at step 0
    assert logs["ssl/tsa_eta"] == pytest.approx(0.5) and 0.0 <= logs["ssl/tsa_kept"] <= 1.0
    _, logs = UDA(tok, total_steps=100).loss(model, batch, u, 100)  # eta = 1: nothing dropped
    assert logs["ssl/tsa_kept"] == 1.0


def test_graph_propagation_and_gcn_on_clustered_points():
    from lowdata.ssl.graph import gcn, propagate

    rng = np.random.default_rng(0)
    centers = np.eye(3, 16) * 5
    X = np.vstack([centers[c] + rng.normal(size=(40, 16)) * 0.5 for c in range(3)])
    y = np.repeat(np.arange(3), 40)
    lab = np.array([0, 1, 2, 40, 41, 42, 80, 81, 82])
    unl = np.setdiff1d(np.arange(120), lab)
    for method in ("spreading", "propagation"):
        P = propagate(X[lab], y[lab], X[unl], method=method, k=5)
        assert P.shape == (111, 3) and (P.argmax(1) == y[unl]).mean() > 0.95
    P = gcn(X[lab], y[lab], X[unl], k=5, epochs=100, seed=0)
    assert (P.argmax(1) == y[unl]).mean() > 0.95
    assert np.allclose(P, gcn(X[lab], y[lab], X[unl], k=5, epochs=100, seed=0))


def test_embed_real_text(tiny_model):
    from lowdata.ssl.graph import embed

    E = embed(["good movie", "bad movie", "good movie"], model=tiny_model)
    assert E.shape == (3, 32) and np.allclose(np.linalg.norm(E, axis=1), 1, atol=1e-5)
    assert np.allclose(E[0], E[2], atol=1e-6)


def test_self_training_rounds(tiny_model, toy_files, tmp_path):
    from lowdata.methods.self_training import self_train
    from lowdata.ssl.pseudo_label import select

    keep, cls = select(np.array([[0.99, 0.01], [0.95, 0.05], [0.2, 0.8], [0.03, 0.97]]), 0.9)
    assert keep.tolist() == [0, 3] and cls.tolist() == [0, 1]  # balanced: one per class
    cfg = tiny_cfg(tiny_model, toy_files, tmp_path / "st", epochs=3)
    splits = _splits(cfg, k=4)
    from lowdata.data import read

    full = read(str(toy_files / "train.tsv"))
    rest = [full.labels[full.texts.index(t)] for t in splits["unlabeled"].texts]
    m = self_train(cfg, splits, rounds=2, threshold=0.6, true_unlabeled_labels=rest)
    hist = m["self_training"]
    assert len(hist) == 2 and hist[0]["pseudo_labeled"] == 0 and hist[1]["pseudo_labeled"] > 0
    assert 0 <= hist[1]["pseudo_acc"] <= 1 and (tmp_path / "st" / "round_1" / "metrics.json").exists()
    # the final model is the round with the best dev accuracy (the first of equals): its metrics are returned
    devs = [h["dev"] for h in hist]
    best = devs.index(max(devs))
    assert m["selected_round"] == best and [h.get("selected", False) for h in hist] == [r == best for r in (0, 1)]
    assert m["n_train"] == 8 + hist[best]["pseudo_labeled"] and m["dev"]["accuracy"] == max(devs)
    saved = json.loads((tmp_path / "st" / "self_training.json").read_text())
    assert [h.get("selected", False) for h in saved] == [r == best for r in (0, 1)]


def test_self_training_final_round_is_chosen_on_dev_only():
    from lowdata.config import ConfigError
    from lowdata.methods.self_training import _selected_round, self_train

    hist = [{"dev": 0.60, "test": 0.61}, {"dev": 0.70, "test": 0.58}, {"dev": 0.70, "test": 0.65}]
    assert _selected_round(hist, "dev") == 1  # best dev, first of equals; test is never looked at
    assert _selected_round(hist, "last") == 2
    assert _selected_round([{"dev": None}, {"dev": None}], "dev") == 1  # no dev split: the last round
    with pytest.raises(ConfigError, match="self_training.select_round"):
        self_train(None, {"unlabeled": [], "train": []}, select_round="best")


def test_class_balanced_selection_keeps_each_class_top_portion():
    from lowdata.ssl.pseudo_label import select

    # class 1 is never predicted with confidence >= 0.9: one global threshold + balancing keeps nothing at all
    P = np.array([[0.99, 0.01], [0.97, 0.03], [0.95, 0.05], [0.6, 0.4], [0.3, 0.7], [0.45, 0.55], [0.2, 0.8]])
    assert select(P, 0.9)[0].tolist() == []
    keep, cls = select(P, 0.9, portion=0.5)  # class 0: top 2 of 4; class 1: top 2 of 3 (ceil), however unsure
    assert keep.tolist() == [0, 1, 4, 6] and cls.tolist() == [0, 0, 1, 1]
    assert select(P, 0.9, portion=1.0, max_per_class=1)[0].tolist() == [0, 6]
    with pytest.raises(ValueError, match="portion"):
        select(P, 0.9, portion=0)


def test_top_balanced_cuts_every_class_to_the_rarest():
    from lowdata.ssl.pseudo_label import top_balanced

    P = np.array([[0.99, 0.01], [0.97, 0.03], [0.95, 0.05], [0.6, 0.4], [0.3, 0.7], [0.45, 0.55], [0.2, 0.8],
                  [0.9, 0.1]])
    keep, cls = top_balanced(P, 0.5)  # class 0: top 3 of 5 (ceil), class 1: top 2 of 3 -> 2 each, the surest
    assert keep.tolist() == [0, 1, 4, 6] and cls.tolist() == [0, 0, 1, 1]
    keep, cls = top_balanced(np.array([[0.9, 0.1], [0.8, 0.2]]), 1.0)  # class 1 never predicted: nothing
    assert keep.tolist() == [] and cls.tolist() == []


def test_self_training_with_portion(tiny_model, toy_files, tmp_path):
    from lowdata.config import ConfigError
    from lowdata.methods.self_training import self_train

    cfg = tiny_cfg(tiny_model, toy_files, tmp_path / "cbst", epochs=1)
    splits = _splits(cfg, k=4)
    n_pool = len(splits["unlabeled"])
    hist = self_train(cfg, splits, rounds=2, threshold=0.99, portion=0.5)["self_training"]
    # every predicted class gives its top half, so about half the pool is pseudo-labeled despite threshold 0.99
    assert n_pool / 2 <= hist[1]["pseudo_labeled"] <= n_pool / 2 + 2
    assert sum(hist[1]["per_class"].values()) == hist[1]["pseudo_labeled"] and hist[0]["per_class"] == {}
    with pytest.raises(ConfigError, match="self_training.portion"):
        self_train(cfg, splits, portion=1.5)


@pytest.mark.parametrize("method", ["fixmatch", "self_training", "bogus"])
def test_ssl_from_config_via_cli(method, tiny_model, toy_files, tmp_path):
    import subprocess
    import sys

    import yaml

    from lowdata.config import to_dict

    cfg = to_dict(tiny_cfg(tiny_model, toy_files, tmp_path / "run", epochs=2))
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    r = subprocess.run([sys.executable, "-m", "lowdata.cli", "train", "-c", str(tmp_path / "c.yaml"),
                        "data.k_per_class=4", f"ssl.method={method}", "ssl.rounds=2",
                        # self-training: no tiny-model prediction passes 0.999, so pseudo-labels prove ssl.portion works
                        *(["ssl.threshold=0.999", "ssl.portion=0.5"] if method == "self_training"
                          else ["ssl.threshold=0.5"])],
                       capture_output=True, text=True)
    if method == "bogus":
        assert r.returncode == 2 and "ssl.method: expected null or one of" in r.stderr and "'bogus'" in r.stderr \
            and "fixmatch" in r.stderr
        return
    assert r.returncode == 0, r.stderr
    run = tmp_path / "run"
    for name in ("config.yaml", "metrics.json", "report.md", "predictions.jsonl"):  # every method's layout
        assert (run / name).exists(), name
    assert f"{run} (report.md" in r.stdout  # where the run is
    if method == "self_training":
        import json

        assert (run / "round_1" / "metrics.json").exists()
        assert f"the final model: {run / 'round_1' / 'model'}" in r.stdout
        assert json.loads((run / "self_training.json").read_text())[1]["pseudo_labeled"] > 0
        top, final = (json.loads((d / "metrics.json").read_text()) for d in (run, run / "round_1"))
        assert top["test"] == final["test"] and top["final_run"] == "round_1"


def test_graph_seeded_pseudo_labels_are_balanced_and_confident():
    from lowdata.data import TextData
    from lowdata.ssl.graph import seed_pseudo_labels

    rng = np.random.default_rng(1)
    centers = np.eye(2, 8) * 4
    E = np.vstack([centers[c] + rng.normal(size=(30, 8)) * 0.4 for c in range(2)])
    texts = [f"t{i}" for i in range(60)]
    truth = ["a"] * 30 + ["b"] * 30
    lab = [0, 1, 30, 31]
    unl = [i for i in range(60) if i not in lab]
    labeled = TextData([texts[i] for i in lab], [truth[i] for i in lab])
    unlabeled = TextData([texts[i] for i in unl])
    data, keep, conf = seed_pseudo_labels(labeled, unlabeled, k=5, per_class=10, embeddings=(E[lab], E[unl]))
    assert data.labels.count("a") == data.labels.count("b") == 10
    assert all(truth[unl[i]] == y for i, y in zip(keep, data.labels))
    assert len(keep) == 20 and (conf > 0.5).all()  # the most confident half of each class


def test_frozen_encoder_methods_as_a_train_path(tiny_model, toy_files, tmp_path, monkeypatch):
    """ssl.method=frozen_lr|label_spreading|gcn: no fine-tuning, cached embeddings, test labels never used."""
    import json

    import lowdata.ssl.graph as graph
    from lowdata.methods import train as run

    from .conftest import tiny_cfg

    monkeypatch.setenv("LOWDATA_CACHE", str(tmp_path / "cache"))
    calls = []
    real = graph.embed
    monkeypatch.setattr(graph, "embed", lambda texts, **kw: calls.append(len(texts)) or real(texts, **kw))
    results = {}
    for method in ("frozen_lr", "label_spreading", "gcn"):
        cfg = tiny_cfg(tiny_model, toy_files, tmp_path / method)
        cfg.data.k_per_class = 8
        cfg.ssl.method = method
        m = run(cfg)
        assert m["n_train"] == 16 and m["method"] == method and 0 <= m["test"]["accuracy"] <= 1
        assert json.loads((tmp_path / method / "metrics.json").read_text())["test"] == m["test"]
        results[method] = m
    assert sum(calls) <= 64 + 32 + 40  # every distinct text embedded once, then served from the cache
    # transductive methods never read dev/test labels: flipping them changes the score, not the predictions
    flipped = tmp_path / "flip"
    flipped.mkdir()
    for name in ("train", "dev", "test"):
        rows = (toy_files / f"{name}.tsv").read_text().splitlines()
        if name != "train":
            rows = [("neg" if r.startswith("pos") else "pos") + r[3:] for r in rows]
        (flipped / f"{name}.tsv").write_text("\n".join(rows) + "\n")
    cfg = tiny_cfg(tiny_model, flipped, tmp_path / "gcn-flip")
    cfg.data.k_per_class = 8
    cfg.ssl.method = "gcn"
    run(cfg)
    pred = lambda d: [json.loads(x)["pred"] for x in (d / "predictions.jsonl").read_text().splitlines()]  # noqa
    assert pred(tmp_path / "gcn-flip") == pred(tmp_path / "gcn")


def test_graph_seeded_self_training_trains_round_0_on_graph_labels(tiny_model, toy_files, tmp_path, monkeypatch):
    """ssl.seed_graph=gcn: the first student already learns from the GCN's pseudo-labels (all of the pool with
    threshold 0, balanced), their accuracy against the hidden labels is logged, and a bad name is refused."""
    from lowdata.config import ConfigError
    from lowdata.methods.self_training import self_train

    monkeypatch.setenv("LOWDATA_CACHE", str(tmp_path / "cache"))
    cfg = tiny_cfg(tiny_model, toy_files, tmp_path / "gs", epochs=2)
    splits = _splits(cfg, k=4)
    assert splits["unlabeled_truth"] is not None
    m = self_train(cfg, splits, rounds=1, threshold=0.0, seed_graph="gcn")
    (h,) = m["self_training"]
    n_classes = len(set(splits["train"].labels))
    assert h["teacher"] == "gcn" and h["pseudo_labeled"] > 0 and h["pseudo_labeled"] % n_classes == 0
    assert sorted(h["per_class"]) == sorted(set(splits["train"].labels))  # balanced: the same count per class
    assert set(h["per_class"].values()) == {h["pseudo_labeled"] // n_classes}
    assert m["n_train"] == len(splits["train"]) + h["pseudo_labeled"] and 0 <= h["pseudo_acc"] <= 1
    assert not (tmp_path / "gs" / "round_1").exists()
    with pytest.raises(ConfigError, match="seed_graph"):
        self_train(cfg, splits, rounds=1, seed_graph="knn")


def test_auto_first_teacher_is_chosen_on_dev(tiny_model, toy_files, tmp_path, monkeypatch):
    """ssl.seed_graph=auto: round 0 trains a GCN-seeded and a labels-only student and keeps the one with the better
    dev accuracy (the GCN-seeded one on a tie); the next round's pseudo-labels come from the kept student; without a
    labeled dev split, or with an option that needs a named graph, it is refused before any training."""
    import os

    import lowdata.methods.self_training as pl
    from lowdata.backbone import TaskModel
    from lowdata.config import ConfigError

    monkeypatch.setenv("LOWDATA_CACHE", str(tmp_path / "cache"))
    cfg = tiny_cfg(tiny_model, toy_files, tmp_path / "auto", epochs=2)
    splits = _splits(cfg, k=4)
    with pytest.raises(ConfigError, match="needs a labeled dev split"):
        pl.self_train(cfg, {**splits, "dev": None}, seed_graph="auto")
    with pytest.raises(ConfigError, match="graph_predict needs self_training.seed_graph"):
        pl.self_train(cfg, splits, seed_graph="auto", graph_predict=True)
    assert not (tmp_path / "auto").exists()

    m = pl.self_train(cfg, splits, rounds=2, threshold=0.3, seed_graph="auto")
    h0, h1 = m["self_training"]
    cand = h0["candidates"]
    for name in ("gcn", "labels"):  # both students trained and scored; the entry keeps their dev/test
        saved = json.loads((tmp_path / "auto" / f"round_0_{name}" / "metrics.json").read_text())
        assert cand[name] == {"dev": saved["dev"]["accuracy"], "test": saved["test"]["accuracy"]}
    kept = "labels" if cand["labels"]["dev"] > cand["gcn"]["dev"] else "gcn"
    assert h0["run"] == f"round_0_{kept}" and h0["dev"] == cand[kept]["dev"]
    assert h0["teacher"] == (None if kept == "labels" else "gcn") and (h0["pseudo_labeled"] > 0) == (kept == "gcn")
    model, tok, meta = TaskModel.load(str(tmp_path / "auto" / h0["run"] / "model"))  # round 1: taught by the kept one
    keep, _ = pl.select(pl.pool_probs(model, tok, splits["unlabeled"], meta["max_length"]), 0.3)
    assert h1["teacher"] == "model" and h1["pseudo_labeled"] == len(keep)

    # the choice itself, on given dev scores: the better dev wins, a tie keeps the graph-seeded student
    for dev_g, dev_l, want in ((0.6, 0.7, None), (0.7, 0.6, "gcn"), (0.65, 0.65, "gcn")):
        def fake_round(c, splits, train, resume, run_kw, dg=dev_g, dl=dev_l):
            acc = dg if c.output_dir.endswith("gcn") else dl
            return {"dev": {"accuracy": acc}, "test": {"accuracy": 0.5}, "n_train": len(train)}
        monkeypatch.setattr(pl, "_round", fake_round)
        cfg.output_dir = str(tmp_path / f"fake{dev_g}{dev_l}")
        os.makedirs(cfg.output_dir)
        (h,) = pl.self_train(cfg, splits, rounds=1, threshold=0.3, seed_graph="auto")["self_training"]
        assert h["teacher"] == want and h["dev"] == max(dev_g, dev_l)


def test_graph_ensemble_teacher_averages_model_and_graph(tiny_model, toy_files, tmp_path, monkeypatch):
    """ssl.graph_ensemble: round 1 trains on exactly the pseudo-labels selected from the mean of the round-0 model's
    softmax over the pool and the seed graph's probabilities; without seed_graph it is refused before training."""
    import lowdata.methods.finetune
    from lowdata.backbone import TaskModel
    from lowdata.config import ConfigError
    from lowdata.data import LabelMap
    from lowdata.ssl.embedding import cached_embed
    from lowdata.ssl.graph import graph_probs
    from lowdata.methods.self_training import self_train
    from lowdata.ssl.pseudo_label import pool_probs, select

    monkeypatch.setenv("LOWDATA_CACHE", str(tmp_path / "cache"))
    cfg = tiny_cfg(tiny_model, toy_files, tmp_path / "ge", epochs=2)
    splits = _splits(cfg, k=4)
    with pytest.raises(ConfigError, match="graph_ensemble needs self_training.seed_graph"):
        self_train(cfg, splits, rounds=2, graph_ensemble=True)
    assert not (tmp_path / "ge").exists()
    seen, real_run = [], lowdata.methods.finetune.run
    monkeypatch.setattr(lowdata.methods.finetune, "run", lambda c, sp, **kw: seen.append(sp["train"]) or real_run(c, sp, **kw))
    m = self_train(cfg, splits, rounds=2, threshold=0.5, seed_graph="gcn", graph_ensemble=True)
    assert [h["teacher"] for h in m["self_training"]] == ["gcn", "model+gcn"]

    labeled, pool = splits["train"], splits["unlabeled"]
    model, tok, meta = TaskModel.load(str(tmp_path / "ge" / "round_0" / "model"))
    names = LabelMap(meta["labels"]).names
    emb = tuple(cached_embed(d.texts, cfg.model.name, cfg.model.max_length) for d in (labeled, pool))
    P_g = graph_probs(labeled, pool, seed=cfg.train.seed, embeddings=emb)
    P_g = P_g[:, [LabelMap.from_data(labeled).names.index(n) for n in names]]
    P_m = pool_probs(model, tok, pool, meta["max_length"])
    assert P_m.shape == P_g.shape and np.allclose(P_m.sum(1), 1, atol=1e-5)
    keep, cls = select((P_m + P_g) / 2, 0.5, balance=True)
    assert len(keep) == m["self_training"][1]["pseudo_labeled"]
    assert seen[1].texts == labeled.texts + [pool.texts[i] for i in keep]
    assert seen[1].labels == labeled.labels + [names[c] for c in cls]


def test_graph_refresh_teacher_is_a_graph_over_the_students_embeddings(tiny_model, toy_files, tmp_path, monkeypatch):
    """ssl.graph_refresh (Iscen et al. 2019): round 1 trains on exactly the pseudo-labels a GCN gives when rebuilt
    over the round-0 student's own embeddings (not the frozen encoder's); refused without seed_graph."""
    import lowdata.methods.finetune
    from lowdata.backbone import TaskModel
    from lowdata.config import ConfigError
    from lowdata.data import LabelMap
    from lowdata.ssl.embedding import cached_embed
    from lowdata.ssl.graph import embed, graph_probs
    from lowdata.methods.self_training import self_train
    from lowdata.ssl.pseudo_label import select

    monkeypatch.setenv("LOWDATA_CACHE", str(tmp_path / "cache"))
    cfg = tiny_cfg(tiny_model, toy_files, tmp_path / "gr", epochs=2)
    splits = _splits(cfg, k=4)
    with pytest.raises(ConfigError, match="graph_refresh needs self_training.seed_graph"):
        self_train(cfg, splits, rounds=2, graph_refresh=True)
    seen, real_run = [], lowdata.methods.finetune.run
    monkeypatch.setattr(lowdata.methods.finetune, "run", lambda c, sp, **kw: seen.append(sp["train"]) or real_run(c, sp, **kw))
    m = self_train(cfg, splits, rounds=2, threshold=0.3, seed_graph="gcn", graph_refresh=True)
    assert [h["teacher"] for h in m["self_training"]] == ["gcn", "student gcn"]

    labeled, pool = splits["train"], splits["unlabeled"]
    model_dir = str(tmp_path / "gr" / "round_0" / "model")
    names = LabelMap(TaskModel.load(model_dir)[2]["labels"]).names
    graph_names = LabelMap.from_data(labeled).names
    student = tuple(embed(d.texts, model_dir, cfg.train.eval_batch_size, cfg.model.max_length) for d in (labeled, pool))
    frozen = tuple(cached_embed(d.texts, cfg.model.name, cfg.model.max_length) for d in (labeled, pool))
    assert not np.allclose(student[1], frozen[1], atol=1e-4)  # the student moved away from the frozen encoder
    P = graph_probs(labeled, pool, seed=cfg.train.seed, embeddings=student)[:, [graph_names.index(n) for n in names]]
    keep, cls = select(P, 0.3, balance=True)
    assert len(keep) > 0 and len(keep) == m["self_training"][1]["pseudo_labeled"]
    assert seen[1].texts == labeled.texts + [pool.texts[i] for i in keep]
    assert seen[1].labels == labeled.labels + [names[c] for c in cls]


def test_graph_predict_is_the_mean_of_student_and_transductive_graph(tiny_model, toy_files, tmp_path, monkeypatch):
    """ssl.graph_predict: the final dev/test predictions average the final student's probabilities and a GCN's over the
    frozen encoder in which dev and test texts are unlabeled nodes; the student's own scores are kept beside them, the
    ensemble's outputs go to graph_predict/, and without seed_graph it is refused before any training."""
    from lowdata.backbone import TaskModel
    from lowdata.config import ConfigError
    from lowdata.ssl.embedding import cached_embed
    from lowdata.ssl.graph import gcn
    from lowdata.methods.self_training import self_train
    from lowdata.ssl.pseudo_label import pool_probs

    monkeypatch.setenv("LOWDATA_CACHE", str(tmp_path / "cache"))
    cfg = tiny_cfg(tiny_model, toy_files, tmp_path / "gp", epochs=2)
    splits = _splits(cfg, k=4)
    with pytest.raises(ConfigError, match="graph_predict needs self_training.seed_graph"):
        self_train(cfg, splits, rounds=1, graph_predict=True)
    assert not (tmp_path / "gp").exists()
    m = self_train(cfg, splits, rounds=2, threshold=0.3, seed_graph="gcn", graph_predict=True)
    sel = m["selected_round"]  # the student of the round with the best dev accuracy
    final = json.loads((tmp_path / "gp" / f"round_{sel}" / "metrics.json").read_text())
    assert m["student"]["test"]["accuracy"] == final["test"]["accuracy"]
    assert m["self_training"][sel]["graph_predict"]["test"] == m["test"]["accuracy"]

    model, tok, meta = TaskModel.load(str(tmp_path / "gp" / f"round_{sel}" / "model"))
    names = meta["labels"]
    emb = [cached_embed(splits[n].texts, cfg.model.name, cfg.model.max_length)
           for n in ("train", "unlabeled", "dev", "test")]
    y = np.array([names.index(v) for v in splits["train"].labels])
    G = gcn(emb[0], y, np.vstack(emb[1:]), seed=cfg.train.seed)
    n_dev, n_test = len(splits["dev"]), len(splits["test"])
    for split, P_g in (("dev", G[-n_test - n_dev:-n_test]), ("test", G[-n_test:])):
        P_s = pool_probs(model, tok, splits[split], meta["max_length"])
        P = (P_s + P_g) / 2
        want = np.mean([names[i] == t for i, t in zip(P.argmax(1), splits[split].labels)])
        assert m[split]["accuracy"] == pytest.approx(want)
    assert not np.allclose(P, P_s, atol=1e-3) and not np.allclose(P, P_g, atol=1e-3)  # both views count
    out = tmp_path / "gp" / "graph_predict"
    assert json.loads((out / "metrics.json").read_text())["test"]["accuracy"] == m["test"]["accuracy"]
    preds = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert [r["pred"] for r in preds] == [names[i] for i in P.argmax(1)]
    assert [r["confidence"] for r in preds] == pytest.approx(P.max(1).tolist(), abs=1e-5)
    assert (out / "confusion_test.png").exists() and "mean of class" in (out / "report.md").read_text()


def test_self_training_kill_and_resume_matches_uninterrupted_run(tiny_model, toy_files, tmp_path):
    """SIGKILL inside round 1 of `lowdata train` self-training, then --resume: round 0 is read back (not retrained),
    round 1 continues, and every round's metrics equal those of a run never killed."""
    import json
    import os
    import subprocess
    import sys

    import yaml

    from lowdata.config import to_dict

    d = to_dict(tiny_cfg(tiny_model, toy_files, "x", epochs=2, save_every=2))
    d.pop("output_dir")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(d))

    def cli(out, *extra, env=None):
        return subprocess.run([sys.executable, "-m", "lowdata.cli", "train", "-c", str(tmp_path / "c.yaml"),
                               f"output_dir={out}", "data.k_per_class=4", "ssl.method=self_training", "ssl.rounds=2",
                               "ssl.threshold=0.999", "ssl.portion=0.5", *extra], capture_output=True, text=True,
                              env=env)

    full = cli(tmp_path / "full")
    assert full.returncode == 0, full.stderr
    steps = [json.loads((tmp_path / "full" / f"round_{r}" / "metrics.json").read_text())["steps"] for r in (0, 1)]
    assert steps[1] > steps[0] + 1  # the pseudo-labels lengthen round 1, so the kill below lands inside it
    killed = cli(tmp_path / "k", env={**os.environ, "LOWDATA_TEST_KILL_AT_STEP": str(steps[0] + 1)})
    assert killed.returncode == -9, killed.stderr
    assert (tmp_path / "k" / "round_0" / "metrics.json").exists()
    assert not (tmp_path / "k" / "round_1" / "metrics.json").exists()
    again = cli(tmp_path / "k")
    assert again.returncode == 2 and "finished run" in again.stderr  # never silently retrains over a run
    resumed = cli(tmp_path / "k", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "round 0: finished before" in resumed.stdout and "resumed from step" in resumed.stdout + resumed.stderr
    a, b = (json.loads((tmp_path / x / "self_training.json").read_text()) for x in ("full", "k"))
    assert a == b and len(a) == 2 and a[1]["pseudo_labeled"] > 0


def test_distill_student_learns_the_teachers_probabilities(tiny_model, toy_files, tmp_path):
    """ssl.method=distill: with two labels and a teacher that labels the pool its own way (a random head), the
    student follows the teacher on texts it never saw labeled (this teacher agrees with the truth on ~37% of them),
    far more than the same run without the teacher."""
    import json

    import numpy as np

    from lowdata.methods import train
    from lowdata.ssl.distill import Distill
    from tests.conftest import save_random_model

    teacher, _, _ = save_random_model(tiny_model, tmp_path / "teacher", labels=("pos", "neg"), scale=8.0, seed=5)
    test = [line.split("\t")[1] for line in (toy_files / "test.tsv").read_text().splitlines()]
    said = np.array(["pos", "neg"])[Distill(teacher).teacher_probs(test, ["pos", "neg"]).argmax(1)]
    agree = {}
    for name, extra in (("plain", {}), ("distill", {"method": "distill", "teacher": teacher, "weight": 10.0,
                                                     "mu": 4})):
        cfg = tiny_cfg(tiny_model, toy_files, tmp_path / name, epochs=0, max_steps=40, report_to=["tensorboard"])
        cfg.data.k_per_class, cfg.data.dev = 1, None
        for k, v in extra.items():
            setattr(cfg.ssl, k, v)
        train(cfg)
        pred = [json.loads(x)["pred"] for x in open(tmp_path / name / "predictions.jsonl")]
        agree[name] = float(np.mean(np.array(pred) == said))
    assert 0.2 < np.mean(said == "pos") < 0.8, said  # the teacher's labels are not one class
    assert agree["distill"] >= 0.8 and agree["distill"] >= agree["plain"] + 0.3, agree  # measured 0.875 vs 0.45
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(tmp_path / "distill" / "tb"))
    ea.Reload()
    assert {"ssl/kd_loss", "ssl/teacher_acc"} <= set(ea.Tags()["scalars"])


def test_distill_teacher_pass_under_bf16_only_where_native(tiny_model, toy_files, tmp_path, monkeypatch):
    """model.embed_bf16 puts the teacher's pass over the pool under bf16 autocast where bf16 is the hardware's fast
    path, and leaves it in float32 where it would be emulated."""
    import numpy as np

    import lowdata.hardware as hw
    from lowdata.config import Config
    from lowdata.ssl import build_ssl
    from lowdata.ssl.distill import Distill
    from tests.conftest import save_random_model

    teacher, _, _ = save_random_model(tiny_model, tmp_path / "teacher", labels=("pos", "neg"), scale=8.0, seed=5)
    texts = [line.split("\t")[1] for line in (toy_files / "test.tsv").read_text().splitlines()]
    p32 = Distill(teacher).teacher_probs(texts, ["pos", "neg"])
    monkeypatch.setattr(hw, "bf16_fast", lambda device: False)
    assert np.array_equal(Distill(teacher, bf16=True).teacher_probs(texts, ["pos", "neg"]), p32)
    monkeypatch.setattr(hw, "bf16_fast", lambda device: True)
    p16 = Distill(teacher, bf16=True).teacher_probs(texts, ["pos", "neg"])
    assert not np.array_equal(p16, p32) and np.abs(p16 - p32).max() < 0.05, np.abs(p16 - p32).max()
    cfg = Config()
    cfg.ssl.method, cfg.ssl.teacher, cfg.model.embed_bf16 = "distill", teacher, True
    assert build_ssl(cfg.ssl, None, cfg).bf16


def test_distill_needs_a_teacher_over_the_same_labels(tiny_model, toy_files, tmp_path):
    from lowdata.errors import ConfigError
    from lowdata.methods import train
    from tests.conftest import save_random_model

    other, _, _ = save_random_model(tiny_model, tmp_path / "other", labels=("neg", "pos", "meh"))
    for teacher, said in ((None, "needs ssl.teacher"), (other, "are not this run's")):
        cfg = tiny_cfg(tiny_model, toy_files, tmp_path / f"run{bool(teacher)}", epochs=1)
        cfg.data.k_per_class, cfg.ssl.method, cfg.ssl.teacher = 2, "distill", teacher
        with pytest.raises(ConfigError, match=said):
            train(cfg)
