"""lowdata auto (lowdata.methods.auto): CV inside the labels, blind held-out folds, halving, budget, resume, reports."""
import json

import numpy as np
import pytest

from lowdata.methods import auto as A

from .conftest import tiny_cfg


def _splits(files, pool=True):
    from lowdata.data import TextData, read

    train = read(str(files / "train.tsv"), task="classify")
    test = read(str(files / "test.tsv"), task="classify")
    u = read(str(files / "dev.tsv"), task="classify")
    return {"train": train, "test": test, "dev": None,
            "unlabeled": TextData(u.texts, source="pool") if pool else None}


RECIPES = (A.Recipe("frozen_lr C=1", ("ssl.method=frozen_lr", "frozen.C=1.0"), False, False),
           A.Recipe("frozen_lr C=100", ("ssl.method=frozen_lr", "frozen.C=100.0"), False, False),
           A.Recipe("gcn", ("ssl.method=gcn", "frozen.k=5"), False, True, inductive=False),
           A.Recipe("finetune", ("train.epochs=3", "train.lr=5e-3", "train.head_lr=5e-3"), True, False))


@pytest.fixture
def slow_machine(monkeypatch):
    """The measured training speed (auto_rate.py) as on a slow machine: 0.4 s a training example, so the tiny
    model's tuned cells are priced as mpnet's on a 2-core float32 CPU (the budget tests' premise)."""
    from lowdata.methods import auto_rate

    monkeypatch.setattr(auto_rate, "seconds_per_example", lambda cfg, texts, **kw: 0.4)


def test_folds_are_stratified_and_cover_every_label_once_per_repeat():
    y = [0] * 8 + [1] * 12
    plan = A.folds(y, 4, 2, seed=0)
    assert len(plan) == 8
    for rep in (0, 1):
        held = np.concatenate([te for r, _, _, te in plan if r == rep])
        assert sorted(held.tolist()) == list(range(20))
        for r, _, tr, te in plan:
            if r == rep:
                assert set(tr).isdisjoint(te) and sum(y[i] == 0 for i in te) == 2  # 8 / 4 per fold
    assert [te.tolist() for r, _, _, te in plan if r == 0] != [te.tolist() for r, _, _, te in plan if r == 1]


def test_wilson_interval():
    lo, hi = A.wilson(30, 40)
    assert 0.59 < lo < 0.61 and 0.85 < hi < 0.87  # 0.75 with n=40
    assert A.wilson(0, 0) == (0.0, 1.0)


def test_auto_end_to_end_blind_folds_and_reports(tiny_model, toy_files, tmp_path, monkeypatch):
    from lowdata import methods

    seen = []
    real = methods.train

    def spy(cfg, splits, **kw):
        if "final" not in cfg.output_dir:  # a CV cell: the held-out texts arrive blind
            held = splits["test"]
            seen.append((set(splits["train"].lines) & set(held.lines), set(held.labels)))
        return real(cfg, splits, **kw)

    monkeypatch.setattr(methods, "train", spy)
    base = tiny_cfg(tiny_model, toy_files, tmp_path / "unused")
    s = _splits(toy_files)
    r = A.auto(base, s, str(tmp_path / "auto"), backbones=(tiny_model,), budget_s=3600, k=4, repeats=2,
               recipes=RECIPES, progress=False)
    assert seen and all(not overlap and len(labs) == 1 for overlap, labs in seen)  # one placeholder label only
    cells = json.loads((tmp_path / "auto" / "auto.json").read_text())["cells"]
    rows = {c["recipe"]: c for c in r["candidates"]}
    assert rows["frozen_lr C=1"]["cells"] == 4 or rows["frozen_lr C=1"]["cells"] == 8
    finalists = [c for c in r["candidates"] if c.get("repeats") == 2]
    assert len(finalists) == 2  # halving: 4 -> 2 after repeat 1
    best = max(finalists, key=lambda c: c["cv_accuracy"])
    assert r["rule"] == "prior_se" and "one-standard-error" in r["reason"]  # no setfit here: as one_se
    chosen = next(c for c in r["candidates"] if c["status"] == "chosen")
    assert chosen["recipe"] == r["chosen"]["recipe"]
    if chosen is not best:  # the one-SE rule took an earlier (simpler) recipe of the registry
        order = [x.name for x in RECIPES]
        assert order.index(chosen["recipe"]) < order.index(best["recipe"])
    assert len([c for c in cells if not c.startswith("worth|")]) == 4 * 4 + 2 * 4
    w = r["worth"]  # fine-tuning at 1/4, 1/2 (and all) of each first-repeat fold, unless fine-tuning won
    if r["chosen"]["recipe"] == "finetune":
        assert "itself" in w["skipped"]
    else:
        assert sorted({p[0] for p in w["points"]}) == [12, 24, 48] and len(w["points"]) == 12
        assert sum(c.startswith("worth|") for c in cells) == 8  # the full folds reuse the search's finetune cells
        assert "Worth in labels versus plain fine-tuning" in (tmp_path / "auto" / "report.md").read_text()
    assert r["test"]["n"] == 40 and 0 <= r["test"]["accuracy"] <= 1
    lo, hi = r["estimate"]["interval"]
    assert lo <= r["estimate"]["accuracy"] <= hi
    for f in ("report.md", "report.html", "metrics.json", "final/metrics.json"):
        assert (tmp_path / "auto" / f).exists(), f
    md = (tmp_path / "auto" / "report.md").read_text()
    assert f"**Chosen: {r['chosen']['recipe']}" in md and "winner's curse" in md
    assert "<img" in (tmp_path / "auto" / "report.html").read_text()
    if r["chosen"]["inductive"]:
        assert (tmp_path / "auto" / "final" / "model" / "lowdata.json").exists()


class Killed(BaseException):  # like a kill: not an Exception, nothing catches it on the way
    pass


def test_auto_resumes_without_redoing_cells_and_respects_the_budget(tiny_model, toy_files, tmp_path, monkeypatch,
                                                                    slow_machine):
    from lowdata import methods
    from lowdata.errors import ConfigError

    base = tiny_cfg(tiny_model, toy_files, tmp_path / "unused")
    s = _splits(toy_files, pool=False)
    real, calls = methods.train, []

    def dies(cfg, splits, **kw):
        calls.append(cfg.output_dir)
        if len(calls) == 6:
            raise Killed("killed")
        return real(cfg, splits, **kw)

    monkeypatch.setattr(methods, "train", dies)
    out = str(tmp_path / "auto")
    with pytest.raises(Killed):
        A.auto(base, s, out, backbones=(tiny_model,), budget_s=3600, k=4, repeats=1, recipes=RECIPES[:2],
               progress=False, worth=False)
    done = len(json.loads((tmp_path / "auto" / "auto.json").read_text())["cells"])
    assert done == 5
    calls.clear()
    r = A.auto(base, s, out, backbones=(tiny_model,), budget_s=3600, k=4, repeats=1, recipes=RECIPES[:2],
               progress=False, resume=True, worth=False)
    assert len(calls) == 8 - 5 + 1  # the three missing cells and the final training
    assert {c["recipe"] for c in r["candidates"]} == {"frozen_lr C=1", "frozen_lr C=100"}
    monkeypatch.setattr(methods, "train", real)
    # a budget too small for the tuned recipe drops it (and says so); one too small for anything is an error
    r = A.auto(base, s, str(tmp_path / "b"), backbones=(tiny_model,), budget_s=150, k=4, repeats=1,
               recipes=(RECIPES[0], A.Recipe("setfit", ("contrastive.pairs=20", "train.epochs=0"), True, False)),
               progress=False, worth=False)
    assert next(c for c in r["candidates"] if c["recipe"] == "setfit")["status"].startswith("budget")
    with pytest.raises(ConfigError, match="no candidate fits"):
        A.auto(base, s, str(tmp_path / "c"), backbones=(tiny_model,), budget_s=1, k=4, repeats=1,
               recipes=RECIPES[:1], progress=False, worth=False)


def test_frozen_lr_model_predicts_what_the_regression_did(tiny_model, toy_files, tmp_path):
    from lowdata.backbone import TaskModel
    from lowdata.batching import encode, predict_logits
    from lowdata.data import read
    from lowdata.methods import train

    cfg = tiny_cfg(tiny_model, toy_files, tmp_path / "lr")
    cfg.ssl.method = "frozen_lr"
    cfg.data.dev = None
    train(cfg)
    recs = [json.loads(ln) for ln in (tmp_path / "lr" / "predictions.jsonl").read_text().splitlines()]
    model, tok, meta = TaskModel.load(str(tmp_path / "lr" / "model"))
    assert meta.get("normalize") is True
    test = read(str(toy_files / "test.tsv"), task="classify")
    logits = predict_logits(model.eval(), encode(test, tok, None, meta["max_length"]), tok.pad_token_id, 64)
    probs = logits.softmax(-1).numpy()
    assert [meta["labels"][i] for i in probs.argmax(1)] == [r["pred"] for r in recs]
    diff = np.abs(probs.max(1) - [r["confidence"] for r in recs]).max()
    assert diff < 1e-4, diff  # float32 head vs the regression in float64, confidences rounded to 6 digits


def test_frozen_methods_over_a_setfit_tuned_encoder(tiny_model, toy_files, tmp_path):
    from lowdata.backbone import TaskModel, load_encoder
    from lowdata.batching import encode, predict_logits
    from lowdata.data import read
    from lowdata.methods import method_of, train

    cfg = tiny_cfg(tiny_model, toy_files, tmp_path / "st")
    cfg.ssl.method, cfg.contrastive.pairs, cfg.train.epochs, cfg.data.dev = "frozen_lr", 2, 0, None
    assert method_of(cfg) == "frozen"
    train(cfg)
    out = tmp_path / "st"
    assert (out / "encoder" / "metrics.json").exists() and not (out / "encoder" / "model").exists()
    assert "tuned by SetFit's contrastive stage (2 pairs per text)" in (out / "report.md").read_text()
    model, tok, meta = TaskModel.load(str(out / "model"))
    base, _ = load_encoder(tiny_model)
    moved = max((p - q).abs().max().item() for p, q in zip(model.encoder.parameters(), base.parameters()))
    assert moved > 1e-4  # model/ holds the tuned encoder under the regression, not the backbone
    test = read(str(toy_files / "test.tsv"), task="classify")
    probs = predict_logits(model.eval(), encode(test, tok, None, meta["max_length"]), tok.pad_token_id, 64).softmax(-1)
    recs = [json.loads(ln) for ln in (out / "predictions.jsonl").read_text().splitlines()]
    assert [meta["labels"][i] for i in probs.argmax(1).tolist()] == [r["pred"] for r in recs]
    assert np.abs(probs.max(1).values.numpy() - [r["confidence"] for r in recs]).max() < 1e-4
    cfg = tiny_cfg(tiny_model, toy_files, tmp_path / "g")
    cfg.ssl.method, cfg.contrastive.pairs, cfg.train.epochs, cfg.data.dev, cfg.frozen.k = "gcn", 2, 0, None, 5
    train(cfg)
    assert len((tmp_path / "g" / "predictions.jsonl").read_text().splitlines()) == len(test)
    assert not (tmp_path / "g" / "model").exists() and (tmp_path / "g" / "encoder" / "metrics.json").exists()


def test_frozen_lr_self_trained_on_graph_pseudo_labels(tiny_model, toy_files, tmp_path):
    from lowdata.config import ConfigError
    from lowdata.methods import train

    words = ["good", "great", "bad", "awful", "nice", "poor"]
    (tmp_path / "pool.txt").write_text("\n".join(f"{a} {b} film" for a in words for b in words) + "\n")

    def run(name, **frozen):
        cfg = tiny_cfg(tiny_model, toy_files, tmp_path / name)
        cfg.ssl.method, cfg.data.dev, cfg.data.unlabeled = "frozen_lr", None, str(tmp_path / "pool.txt")
        for k, v in frozen.items():
            setattr(cfg.frozen, k, v)
        return train(cfg)

    top = dict(pseudo_labels="gcn", k=3, pseudo_portion=1.0, pseudo_max_pool=20, pseudo_weighting="top")
    plain, pl = run("plain"), run("pl", **top)
    info = pl["pseudo_labels"]
    assert info["method"] == "gcn" and info["pool"] == 20 and 0 < info["kept"] <= 20  # a sample of the 36 texts
    assert info["kept"] % len(pl["labels"]) == 0  # balanced: as many of each class
    assert "pseudo_labels" not in plain and (tmp_path / "pl" / "model" / "config.json").exists()
    again = run("again", **top)
    assert again["test"]["accuracy"] == pl["test"]["accuracy"] and again["pseudo_labels"] == info  # seeded
    cert = run("cert", pseudo_labels="gcn", k=3, pseudo_max_pool=20)  # the default weighting: the whole sample
    assert cert["pseudo_labels"]["weighting"] == "certainty" and cert["pseudo_labels"]["kept"] == 20
    assert 0 <= cert["pseudo_labels"]["mean_certainty"] <= 1
    cfg = tiny_cfg(tiny_model, toy_files, tmp_path / "nopool")
    cfg.ssl.method, cfg.data.dev, cfg.frozen.pseudo_labels = "frozen_lr", None, "gcn"
    with pytest.raises(ConfigError, match="needs unlabeled texts"):
        train(cfg)
    from lowdata.config import load_config

    with pytest.raises(ConfigError, match="frozen.pseudo_labels"):
        load_config(None, ["ssl.method=gcn", "frozen.pseudo_labels=gcn"])


def test_certainty_weights_are_iscens(monkeypatch):
    """frozen.pseudo_weighting=certainty (Iscen et al. 2019): a pool text's weight is 1 - H(p)/log C times its
    class's inverse size (labels and pseudo-labels together), the labels' the inverse size alone; mean 1."""
    import numpy as np

    import lowdata.ssl.graph as graph
    from lowdata.config import load_config
    from lowdata.data import TextData
    from lowdata.methods.frozen import pseudo_labeled

    P = np.array([[1.0, 0.0], [0.5, 0.5], [0.9, 0.1], [0.2, 0.8]])
    monkeypatch.setattr(graph, "gcn", lambda *a, **k: P)
    cfg = load_config(None, ["ssl.method=frozen_lr", "frozen.pseudo_labels=gcn"])
    E_l, y, E_u = np.eye(3)[:2], np.array([0, 1]), np.ones((4, 3))
    X, Y, W = pseudo_labeled(cfg, TextData(["a", "b", "c", "d"]), E_l, y, lambda d: E_u, info := {})
    assert X.shape == (6, 3) and list(Y) == [0, 1, 0, 0, 0, 1]  # a tie goes to the first class
    h = lambda p: -sum(q * np.log(q) for q in p if q > 0) / np.log(2)  # noqa: E731
    raw = np.array([1 / 4, 1 / 2, 1 / 4, (1 - h([0.5, 0.5])) / 4, (1 - h([0.9, 0.1])) / 4, (1 - h([0.2, 0.8])) / 2])
    assert np.allclose(W, raw / raw.mean()) and W[3] == 0  # an even guess counts for nothing
    assert info["pseudo_labels"]["kept"] == 4
    monkeypatch.setattr(graph, "gcn", lambda *a, **k: np.array([[0.0, 0.0], [3.0, 1.0]]))  # unreached; unnormalised
    _, _, W2 = pseudo_labeled(cfg, TextData(["a", "b"]), E_l, y, lambda d: E_u[:2], {})
    assert W2[2] == 0 and np.isclose(W2[3] / W2[0], 1 - h([0.75, 0.25]))  # both in class 0 (3 texts)
    top = load_config(None, ["ssl.method=frozen_lr", "frozen.pseudo_labels=gcn", "frozen.pseudo_weighting=top"])
    assert pseudo_labeled(top, TextData(["a", "b", "c", "d"]), E_l, y, lambda d: E_u, {})[2] is None


def test_setfit_through_the_frozen_path_is_the_fine_tuning_path_and_shares_its_tuning(tiny_model, toy_files,
                                                                                       tmp_path):
    from lowdata.methods import train

    def run(name, *over):
        recipe = A.Recipe(name, ("train.epochs=0", "contrastive.pairs=2", *over), True, False)
        cfg = A._cfg(tiny_cfg(tiny_model, toy_files, tmp_path / "unused"), recipe, tiny_model, str(tmp_path / name))
        cfg.data.dev, cfg.contrastive.reuse_dir = None, str(tmp_path / "enc")
        return train(cfg, {"train": s["train"], "dev": None, "test": s["test"], "unlabeled": s["unlabeled"]})

    s = _splits(toy_files)
    a = run("ft")  # contrastive.pairs + epochs 0 through methods/finetune.py: no frozen method, nothing reused
    assert not (tmp_path / "enc").exists()
    b = run("fz", "ssl.method=frozen_lr")  # through methods/frozen.py: tunes, keeps a copy under reuse_dir
    preds = lambda n: [json.loads(ln)["pred"] for ln in  # noqa: E731
                       (tmp_path / n / "predictions.jsonl").read_text().splitlines()]
    assert preds("ft") == preds("fz") and a["test"]["accuracy"] == b["test"]["accuracy"]
    assert len(list((tmp_path / "enc").iterdir())) == 1 and (tmp_path / "fz" / "encoder" / "metrics.json").exists()
    c = run("pl", "ssl.method=frozen_lr", "frozen.pseudo_labels=gcn", "frozen.k=5")  # the same labels: reused
    assert not (tmp_path / "pl" / "encoder").exists() and c["pseudo_labels"]["kept"] > 0
    assert len(list((tmp_path / "enc").iterdir())) == 1 and (tmp_path / "fz" / "model" / "config.json").exists()
    d = run("fz2", "ssl.method=frozen_lr")  # reused: the very same model as the run that tuned it
    assert preds("fz2") == preds("fz") and d["test"] == b["test"]
    (tmp_path / "enc").rename(tmp_path / "old")  # nothing to reuse: setfit+pl tunes on its own (as auto's final run)
    e = run("pl2", "ssl.method=frozen_lr", "frozen.pseudo_labels=gcn", "frozen.k=5")
    assert (tmp_path / "pl2" / "encoder" / "metrics.json").exists() and e["pseudo_labels"] == c["pseudo_labels"]


def test_auto_shares_a_folds_tuning_between_setfit_and_setfit_pl(tiny_model, toy_files, tmp_path, monkeypatch):
    from lowdata.methods import finetune

    tunings, real = [], finetune.run
    monkeypatch.setattr(finetune, "run", lambda cfg, *a, **kw: tunings.append(cfg.output_dir) or real(cfg, *a, **kw))
    base = tiny_cfg(tiny_model, toy_files, tmp_path / "unused", epochs=0)
    by = {r.name: r for r in A.RECIPES}
    r = A.auto(base, _splits(toy_files), str(tmp_path / "auto"), backbones=(tiny_model,), budget_s=1e6, k=2,
               repeats=1, recipes=(by["setfit"], by["setfit+pl"]), progress=False, worth=False)
    cells = json.loads((tmp_path / "auto" / "auto.json").read_text())["cells"]
    assert len(cells) == 4 and not (tmp_path / "auto" / "encoders").exists()  # removed after the repeat
    assert cells["setfit+pl|" + tiny_model + "|0|0"]["examples"] < cells["setfit|" + tiny_model + "|0|0"]["examples"]
    assert r["chosen"]["recipe"] in ("setfit", "setfit+pl")
    assert len(tunings) == 3  # one per fold, shared by both recipes, + the winner's on all labels (not 5)


def test_cli_auto_refuses_a_dev_split(toy_files, tmp_path, capsys):
    from lowdata.cli import main

    rc = main(["auto", "--train", str(toy_files / "train.tsv"), "-o", str(tmp_path / "a"),
               f"data.dev={toy_files / 'dev.tsv'}"])
    assert rc == 2 and "uses no dev split" in capsys.readouterr().err


@pytest.mark.parametrize("extra, expected", [([], ("minilm",)), (["model.name=e5-small"], ("e5-small",)),
                                             (["--backbones", "mpnet", "minilm"], ("mpnet", "minilm"))])
def test_cli_auto_runs_on_model_name_unless_backbones_are_given(extra, expected, toy_files, tmp_path, monkeypatch):
    """A model.name override is the backbone (it was silently replaced by minilm); --backbones lists several."""
    from lowdata.cli import main

    seen = {}

    def fake(cfg, splits, out, *, backbones, **kw):
        seen["backbones"] = backbones
        return {"chosen": {"recipe": "setfit", "backbone": backbones[0]},
                "estimate": {"accuracy": 1, "interval": [0, 1]}, "labels": len(splits["train"])}

    monkeypatch.setattr(A, "auto", fake)
    assert main(["auto", "--train", str(toy_files / "train.tsv"), "-o", str(tmp_path / "a"), *extra]) == 0
    assert seen["backbones"] == expected


def test_every_recipe_is_a_valid_config_and_costs_are_ordered(tiny_model, toy_files, tmp_path):
    base = tiny_cfg(tiny_model, toy_files, tmp_path / "unused")
    for r in A.RECIPES:  # a mistyped override fails here, not an hour into a search
        cfg = A._cfg(base, r, tiny_model, str(tmp_path / "x"))
        assert cfg.model.name == tiny_model
    by = {r.name: r for r in A.RECIPES}
    assert A._cfg(base, by["finetune+eda"], tiny_model, "x").augment.specs == ["eda:alpha=0.1,n=4"]
    assert A._cfg(base, by["finetune+fgm"], tiny_model, "x").adversarial.method == "fgm"
    base.train.bf16, base.train.cpu = False, True  # the user's precision and device reach every candidate
    base.model.embed_bf16 = True
    assert all(not A._cfg(base, r, tiny_model, "x").train.bf16 and A._cfg(base, r, tiny_model, "x").train.cpu
               and A._cfg(base, r, tiny_model, "x").model.embed_bf16 for r in A.RECIPES)
    ex = {n: A._examples(by[n], 24, 2000) for n in ("finetune", "finetune+fgm", "finetune+eda")}
    assert ex["finetune"] < ex["finetune+fgm"] < ex["finetune+eda"]


def test_auto_samples_a_large_pool_and_says_so(tiny_model, toy_files, tmp_path):
    base = tiny_cfg(tiny_model, toy_files, tmp_path / "unused")
    s = _splits(toy_files)
    r = A.auto(base, s, str(tmp_path / "auto"), backbones=(tiny_model,), budget_s=3600, k=4, repeats=1,
               recipes=RECIPES[2:3], progress=False, max_pool=10)
    assert r["pool"] == {"used": 10, "total": 32, "seed": 0}
    assert json.loads((tmp_path / "auto" / "auto.json").read_text())["settings"]["pool"] == 10
    assert "a seeded sample of 32" in (tmp_path / "auto" / "report.md").read_text()
    preds = (tmp_path / "auto" / "final" / "predictions.jsonl").read_text().splitlines()
    assert len(preds) == 40


def test_selection_rules_argmax_and_one_standard_error():
    lr, gcn = A.RECIPES[0], next(r for r in A.RECIPES if r.name == "gcn")
    cands = [(gcn, "m"), (lr, "m")]  # listed out of the registry's order on purpose

    def cells(a_lr, a_gcn):
        c = A.Cells.__new__(A.Cells)
        c.cells = {f"{r.name}|m|0|{i}": {"accuracy": a} for r, accs in ((lr, a_lr), (gcn, a_gcn))
                   for i, a in enumerate(accs)}
        return c

    clear = cells([0.70, 0.60, 0.70, 0.60], [0.72, 0.62, 0.70, 0.62])  # gcn ahead on every fold: > 1 SE
    noisy = cells([0.70, 0.60, 0.70, 0.60], [0.60, 0.65, 0.65, 0.62 + 0.2])  # ahead on average, within 1 SE
    assert A.choose(clear, cands, cands, "argmax") == (gcn, "m") == A.choose(clear, cands, cands, "one_se")
    assert A.choose(noisy, cands, cands, "argmax") == (gcn, "m")
    assert A.choose(noisy, cands, cands, "one_se") == (lr, "m")  # the simpler one, first in the registry
    with pytest.raises(Exception, match="unknown selection rule"):
        A.choose(noisy, cands, cands, "best")


def test_prior_se_prefers_the_design_sets_recipe_and_halving_keeps_it(monkeypatch):
    lr, gcn = A.RECIPES[0], next(r for r in A.RECIPES if r.name == "gcn")
    ls = next(r for r in A.RECIPES if r.name == "label_spreading")
    monkeypatch.setattr(A, "PREFERENCE", ("gcn", lr.name))
    cands = [(lr, "m"), (ls, "m"), (gcn, "m")]
    c = A.Cells.__new__(A.Cells)
    accs = {lr: [0.70, 0.60, 0.70, 0.60], gcn: [0.60, 0.62, 0.66, 0.62], ls: [0.5, 0.5, 0.5, 0.5]}
    c.cells = {f"{r.name}|m|0|{i}": {"accuracy": a} for r, acc in accs.items() for i, a in enumerate(acc)}
    assert A.choose(c, cands, cands, "one_se") == (lr, "m")  # the registry's first within 1 SE: lr is the best
    assert A.choose(c, cands, cands, "prior_se") == (gcn, "m")  # gcn is within 1 SE of lr and preferred
    assert A.preferred(cands, "prior_se") == [(gcn, "m")] and A.preferred(cands, "one_se") == []
    kept, out = A.halve(c, cands)  # 3 -> the better 2 by mean: lr, gcn
    assert kept == [(lr, "m"), (gcn, "m")] and out == [(ls, "m")]
    kept, out = A.halve(c, cands, [(gcn, "m")])  # gcn is kept aside; the other two are halved to 1
    assert kept == [(gcn, "m"), (lr, "m")] and out == [(ls, "m")]
    c.cells.update({f"{r.name}|m|1|{i}": {"accuracy": a} for r, a in ((lr, 0.9), (gcn, 0.6)) for i in range(4)})
    # lr now far ahead over the 8 folds both ran: more than one standard error, the preference gives way
    assert A.choose(c, cands, [(lr, "m"), (gcn, "m")], "prior_se") == (lr, "m")
    sf, pl = (next(r for r in A.RECIPES if r.name == n) for n in ("setfit", "setfit+pl"))
    monkeypatch.setattr(A, "PREFERENCE", ("setfit+pl",))  # the preferred recipe's tuning donor is kept too
    assert A.preferred([(lr, "m"), (sf, "m"), (pl, "m"), (sf, "x")], "prior_se") == [(sf, "m"), (pl, "m")]
    assert A._shared(pl, "m", [(sf, "m")]) and not A._shared(pl, "m", [(sf, "x")]) and not A._shared(sf, "m", [])
    monkeypatch.undo()  # as shipped: no pool, no setfit+pl among the candidates -> SetFit-style is preferred
    assert A.preferred([(lr, "m"), (sf, "m")], "prior_se") == [(sf, "m")]


def test_standard_error_is_nadeau_bengio_corrected():
    d = np.array([0, 0, 0, 0, 0.125, 0, 0, 0, 0, 0.125, 0, 0])  # 2 texts of 96 held out (4-fold x 3 repeats)
    naive = d.std(ddof=1) / np.sqrt(len(d))
    assert d.mean() > naive  # naive: "more than one standard error"
    assert A.se(d, 4) == pytest.approx(d.std(ddof=1) * np.sqrt(1 / 12 + 1 / 3))
    assert d.mean() < A.se(d, 4)  # corrected: within noise


def test_worth_in_labels_from_a_known_power_law():
    from lowdata.methods import auto_worth as W

    y = [0] * 12 + [1] * 12
    part = W.stratified_part(y, list(range(24)), 0.25, seed=0)
    assert len(part) == 6 and sum(y[i] for i in part) == 3 and part == W.stratified_part(y, list(range(24)), 0.25, 0)
    law = lambda n: 0.5 * n ** -0.5 + 0.05  # noqa: E731  error of "fine-tuning" at n labels
    pts = [(n, 1 - law(n) + e) for n in (6, 12, 24) for e in (-0.004, 0.0, 0.004, 0.002)]
    w = W.estimate(pts, 24, winner_accuracy=1 - law(96), seed=0)
    assert 3.0 < w["multiplier"] < 5.5 and w["extrapolated"]  # the law says 96 labels = 4x the fold's 24
    lo, hi = w["multiplier_interval"]
    assert lo <= w["multiplier"] <= hi
    assert "4." in W.describe(w) or "3." in W.describe(w) or "5." in W.describe(w)
    assert "not measured (x)" in W.describe({"skipped": "x"})


def test_one_se_prefers_the_better_backbone_within_a_recipe():
    lr = A.RECIPES[0]
    cands = [(lr, "small"), (lr, "big")]  # the weaker backbone listed first
    c = A.Cells.__new__(A.Cells)
    c.cells = {f"{lr.name}|{b}|0|{i}": {"accuracy": a} for b, accs in
               (("small", [0.60, 0.70, 0.55, 0.75]), ("big", [0.70, 0.72, 0.68, 0.74])) for i, a in enumerate(accs)}
    assert A.choose(c, cands, cands, "one_se") == (lr, "big")


def test_auto_distills_the_chosen_model_into_another_backbone(tiny_model, toy_files, tmp_path, monkeypatch):
    """--distill-to: a student on another backbone (or the winner's own), taught over the pool less a held-out part,
    where its agreement with the chosen model bounds its accuracy (no label used); skipped with the reason where it
    cannot apply."""
    import shutil

    from lowdata import methods
    from lowdata.methods import auto_distill as D

    small = str(tmp_path / "small")
    shutil.copytree(tiny_model, small)  # another backbone folder
    monkeypatch.setattr(D, "STEPS", 20)
    seen, real = {}, methods.train
    monkeypatch.setattr(methods, "train", lambda cfg, splits, **kw: seen.update(
        {cfg.output_dir: (cfg, splits)}) or real(cfg, splits, **kw))
    base = tiny_cfg(tiny_model, toy_files, tmp_path / "unused")
    s, out = _splits(toy_files), tmp_path / "auto"
    r = A.auto(base, s, str(out), backbones=(tiny_model,), budget_s=3600, k=2, repeats=1, recipes=RECIPES[:2],
               progress=False, worth=False, distill_to=small)
    st = r["student"]
    cfg, splits = seen[str(out / "student")]
    assert cfg.model.name == small and cfg.ssl.method == "distill" and cfg.train.max_steps == 20
    assert cfg.ssl.teacher == str(out / "final" / "model") and splits["train"] is s["train"]
    keep, held = D.split_pool(len(s["unlabeled"]), 0)
    assert st["held_out"] == len(held) == 6 and splits["unlabeled"].texts == [s["unlabeled"].texts[i] for i in keep]
    assert (out / "student" / "model" / "lowdata.json").exists()
    t_pred, _ = D.predict_labels(str(out / "final" / "model"), [s["unlabeled"].texts[i] for i in held])
    s_pred, _ = D.predict_labels(str(out / "student" / "model"), [s["unlabeled"].texts[i] for i in held])
    assert st["disagreement"] == sum(a != b for a, b in zip(t_pred, s_pred)) / 6
    lo, hi = r["estimate"]["interval"]
    d = st["disagreement_upper"]
    assert st["disagreement"] <= d and st["interval"] == [max(0.0, lo - d), min(1.0, hi + d)]
    assert 0 <= st["test"]["accuracy"] <= 1 and set(st["texts_per_s"]) == {"teacher", "student"}
    assert f"Distilled into {small}" in (out / "report.md").read_text()
    assert json.loads((out / "metrics.json").read_text())["student"]["interval"] == st["interval"]
    # the winner's own backbone: self-distillation, a student all the same (it used to be skipped); a transductive
    # winner: skipped with the reason; no pool: refused before any work
    r = A.auto(base, s, str(tmp_path / "same"), backbones=(tiny_model,), budget_s=3600, k=2, repeats=1,
               recipes=RECIPES[:1], progress=False, worth=False, distill_to=tiny_model)
    assert "skipped" not in r["student"] and r["student"]["backbone"] == tiny_model
    assert (tmp_path / "same" / "student" / "model" / "lowdata.json").exists()
    report = (tmp_path / "same" / "report.md").read_text()
    assert f"Self-distilled on {tiny_model}" in report and "texts per second" not in report.split("Self-distilled")[1]
    r = A.auto(base, s, str(tmp_path / "graph"), backbones=(tiny_model,), budget_s=3600, k=2, repeats=1,
               recipes=RECIPES[2:3], progress=False, worth=False, distill_to=small)
    assert "transductive" in r["student"]["skipped"]
    with pytest.raises(A.ConfigError, match="needs unlabeled texts"):
        A.auto(base, _splits(toy_files, pool=False), str(tmp_path / "none"), backbones=(tiny_model,),
               recipes=RECIPES[:1], progress=False, distill_to=small)
    assert not (tmp_path / "none").exists()


def test_cli_auto_passes_distill_to_and_prints_the_students_bound(toy_files, tmp_path, monkeypatch, capsys):
    from lowdata.cli import main

    def fake(cfg, splits, out, *, backbones, distill_to=None, **kw):
        return {"chosen": {"recipe": "setfit", "backbone": backbones[0]}, "labels": len(splits["train"]),
                "estimate": {"accuracy": 0.9, "interval": [0.8, 0.95]},
                "student": {"backbone": distill_to, "interval": [0.75, 1.0], "disagreement": 0.031, "held_out": 1000}}

    monkeypatch.setattr(A, "auto", fake)
    assert main(["auto", "--train", str(toy_files / "train.tsv"), "-o", str(tmp_path / "a"), "--backbones", "mpnet",
                 "--distill-to", "minilm"]) == 0
    out = capsys.readouterr().out
    assert "student on minilm: accuracy within [0.750, 1.000]" in out and "3.1% of 1000" in out
    assert out.rstrip().endswith("final/, student/")


def test_a_candidate_whose_time_is_only_the_first_guess_is_judged_again_once_measured(tiny_model, toy_files,
                                                                                     tmp_path, slow_machine):
    """A tuned candidate that does not fit by the first guess (no cell of the backbone yet) waits behind the others
    of its backbone and is judged on a cell's rate (mpnet's SetFit-style was dropped unseen by a float32 table's
    0.4 s an example, ~7x a bf16 CPU's; the measured steps leave out a cell's loading and evaluation)."""
    by = {r.name: r for r in A.RECIPES}
    setfit = by["setfit"]
    base = tiny_cfg(tiny_model, toy_files, tmp_path / "unused", epochs=0)
    # by the first guess (0.4 s an example): setfit 2 x 1,024 s, finetune 2 x 256 s
    r = A.auto(base, _splits(toy_files), str(tmp_path / "auto"), backbones=(tiny_model,), budget_s=1500, k=2,
               repeats=1, recipes=(setfit, RECIPES[3]), progress=False, worth=False)
    rows = {c["recipe"]: c for c in r["candidates"]}
    assert rows["finetune"]["cells"] == 2 and rows["setfit"].get("cells") == 2, rows
    cells = json.loads((tmp_path / "auto" / "auto.json").read_text())["cells"]
    assert list(cells)[0].startswith("finetune|")  # measured first, then setfit judged on its rate


def test_a_deferred_setfit_pl_waits_for_setfit_style_and_reuses_its_tunings(tiny_model, toy_files, tmp_path,
                                                                             monkeypatch, slow_machine):
    """Both SetFit recipes deferred (the first guess did not fit): after fine-tuning measured the rate, SetFit-style
    tunes each fold and setfit+pl reuses the tunings; a cell's recorded examples say which paid (the learnt rate)."""
    from lowdata.methods import finetune

    tunings, real = [], finetune.run
    monkeypatch.setattr(finetune, "run", lambda cfg, *a, **kw: tunings.append(cfg) or real(cfg, *a, **kw))
    by = {r.name: r for r in A.RECIPES}
    base = tiny_cfg(tiny_model, toy_files, tmp_path / "unused", epochs=0)
    lp_ft = A.Recipe("lp_ft", RECIPES[3].overrides + ("train.lp_init=true",), True, False)
    r = A.auto(base, _splits(toy_files), str(tmp_path / "auto"), backbones=(tiny_model,), budget_s=1500, k=2,
               repeats=1, recipes=(by["setfit"], by["setfit+pl"], RECIPES[3], lp_ft), progress=False, worth=False)
    rows = {c["recipe"]: c for c in r["candidates"]}
    assert rows["setfit"].get("cells") == 2 and rows["setfit+pl"].get("cells") == 2, rows
    cells = json.loads((tmp_path / "auto" / "auto.json").read_text())["cells"]
    # judged again right after the first measured candidate, ahead of the later ones (lp_ft)
    assert [c.split("|")[0] for c in cells][::2] == ["finetune", "setfit", "setfit+pl", "lp_ft"]
    assert cells[f"setfit|{tiny_model}|0|0"]["examples"] >= 32 * 80 > cells[f"setfit+pl|{tiny_model}|0|0"]["examples"]
    assert sum(1 for c in tunings if c.contrastive.pairs and "final" not in c.output_dir) == 2  # one per fold


def test_a_cells_time_is_estimated_from_its_own_cells_run_alike():
    """setfit+pl's cells that reused SetFit-style's tunings do not price one that must tune itself (SST-2 on mpnet
    ran 6 minutes over a 30-minute budget on that estimate)."""
    class C:
        cells = {"setfit+pl|m|0|0": {"seconds": 17.0, "examples": 667, "shared": True},
                 "setfit|m|0|0": {"seconds": 75.0, "examples": 1920}}

    pl = next(r for r in A.RECIPES if r.name == "setfit+pl")
    assert A._estimate(C, "setfit+pl|m", pl, "m", 667, shared=True) == 17.0
    alone = A._estimate(C, "setfit+pl|m", pl, "m", 2587, shared=False)  # the pair tunings' rate x its examples
    assert alone == pytest.approx(2587 * 75 / 1920) and alone > 4 * 17  # shared cells (forward passes) left out


@pytest.mark.parametrize("pairs", [False, True])  # training steps; SetFit's pair steps
def test_training_speed_is_measured_here_without_touching_the_runs_random_draws(tiny_model, toy_files, tmp_path,
                                                                               pairs):
    import torch

    from lowdata.methods.auto_rate import seconds_per_example

    cfg = tiny_cfg(tiny_model, toy_files, tmp_path / "unused")
    before = torch.get_rng_state()
    rate = seconds_per_example(cfg, ["a short text", "another one, a little longer than the first"] * 10, pairs=pairs)
    assert 0 < rate < 0.5  # the tiny model: well under a millisecond a text on any machine; 0.5 s is mpnet float32
    assert torch.equal(torch.get_rng_state(), before)
    with pytest.raises(ValueError, match="at least one text"):
        seconds_per_example(cfg, [], pairs=pairs)


def test_the_first_tuned_cells_are_priced_by_the_measured_speed_kept_on_resume(tiny_model, toy_files, tmp_path,
                                                                              monkeypatch):
    """The budget that drops SetFit-style at 0.4 s an example (the float32 table's mpnet, the budget test above) fits
    it at a fast machine's measured rate; the rate is measured once, kept in auto.json and reused on resume."""
    from lowdata import methods
    from lowdata.methods import auto_rate

    calls, real = [], methods.train
    monkeypatch.setattr(auto_rate, "seconds_per_example", lambda cfg, texts, **kw: calls.append(cfg.model.name) or
                        1e-4)

    def dies(cfg, splits, **kw):
        raise Killed("killed")

    monkeypatch.setattr(methods, "train", dies)
    base = tiny_cfg(tiny_model, toy_files, tmp_path / "unused")
    s, out = _splits(toy_files, pool=False), str(tmp_path / "auto")
    setfit = A.Recipe("setfit", ("contrastive.pairs=2", "train.epochs=0"), True, False)
    kw = dict(backbones=(tiny_model,), budget_s=150, k=2, repeats=1, recipes=(RECIPES[0], setfit), progress=False,
              worth=False)
    with pytest.raises(Killed):
        A.auto(base, s, out, **kw)
    key = f"{tiny_model} pairs"  # SetFit-style alone is tuned: only the pair steps' rate is measured
    assert json.loads((tmp_path / "auto" / "auto.json").read_text())["rates"] == {key: 1e-4}
    monkeypatch.setattr(methods, "train", real)
    r = A.auto(base, s, out, resume=True, **kw)
    assert calls == [tiny_model] and r["rates"] == {key: 1e-4}  # measured once
    assert next(c for c in r["candidates"] if c["recipe"] == "setfit").get("cells") == 2
    for f in ("report.md", "report.html"):
        assert f"{tiny_model} (SetFit pairs) 0.1 ms per example" in (tmp_path / "auto" / f).read_text()


def test_setfit_is_priced_by_the_pair_steps_measured_apart(tiny_model, toy_files, tmp_path, monkeypatch):
    """A fine-tuning cell's fixed costs weigh on 4x fewer examples than a SetFit one's, so fine-tuning's rate
    overprices SetFit (with a random measuring batch, SetFit-style on TREC's 96 labels on mpnet was priced out of a
    30-minute budget it fits, session 41). Each kind is measured and priced apart: here pairs are cheap and
    fine-tuning slow, so SetFit-style runs and fine-tuning is dropped for the budget."""
    from lowdata.methods import auto_rate

    asked = []
    monkeypatch.setattr(auto_rate, "seconds_per_example",
                        lambda cfg, texts, pairs=False, **kw: asked.append(pairs) or (1e-4 if pairs else 0.4))
    base = tiny_cfg(tiny_model, toy_files, tmp_path / "unused")
    setfit = A.Recipe("setfit", ("contrastive.pairs=2", "train.epochs=0"), True, False)
    r = A.auto(base, _splits(toy_files, pool=False), str(tmp_path / "auto"), backbones=(tiny_model,), budget_s=150,
               k=2, repeats=1, recipes=(RECIPES[0], setfit, RECIPES[3]), progress=False, worth=False)
    rows = {c["recipe"]: c for c in r["candidates"]}
    assert sorted(asked) == [False, True] and r["rates"] == {tiny_model: 0.4, f"{tiny_model} pairs": 1e-4}
    assert rows["setfit"].get("cells") == 2 and rows["finetune"]["status"].startswith("budget")


def test_a_candidate_keeps_time_for_the_favourites_final_training_not_its_own():
    """The final training that follows the search is the favourite's (setfit+pl's ~120 s on mpnet, fine-tuning's ~50):
    SST-2 on mpnet ran 26-49 s over its 30-minute budget when each candidate reserved only its own."""
    by = {r.name: r for r in A.RECIPES}
    ft, pl = (by["finetune"], "m"), (by["setfit+pl"], "m")

    class C:
        cells = {}

    assert A._reserve(C, [ft, pl], [ft, pl], "prior_se", 32, 0) == 0.0  # nothing measured yet
    for f, (a_ft, a_pl) in enumerate([(0.9, 0.95), (0.95, 0.80), (0.9, 0.95), (0.95, 0.80)]):
        C.cells[f"finetune|m|0|{f}"] = {"seconds": 20.0, "accuracy": a_ft, "examples": 480}
        C.cells[f"setfit+pl|m|0|{f}"] = {"seconds": 100.0, "accuracy": a_pl, "examples": 667}
    # prior_se keeps setfit+pl first unless another is ahead by more than one standard error: here it is not
    assert A._reserve(C, [ft, pl], [ft, pl], "prior_se", 32, 0) == pytest.approx(150.0)
    assert A._reserve(C, [ft, pl], [ft, pl], "argmax", 32, 0) == pytest.approx(30.0)  # the argmax favourite: ft


def test_a_budget_that_ends_the_search_after_a_repeat_keeps_the_finished_repeats(tiny_model, toy_files, tmp_path,
                                                                                  monkeypatch):
    """A candidate priced out of repeat 2 used to be dropped from the search with its finished repeat: here the
    best (fine-tuning) went, and a worse one won by running repeat 2 alone; where all were priced out, none was left
    and auto failed with "no candidate fits" after the whole first repeat (TREC on mpnet, session 41: 25 minutes
    lost). Now the budget ends the search: the candidates still in it are compared on the repeat they all finished,
    and the winner is trained."""
    from lowdata import methods

    base = tiny_cfg(tiny_model, toy_files, tmp_path / "unused")
    s = _splits(toy_files, pool=False)
    recipes = (RECIPES[0], RECIPES[1], RECIPES[3])  # frozen C=1, frozen C=100, fine-tuning
    real, calls = methods.train, []

    def dies(cfg, splits, **kw):  # killed when the first repeat (3 candidates x 4 folds) is done
        calls.append(cfg.output_dir)
        if len(calls) == 13:
            raise Killed("killed")
        return real(cfg, splits, **kw)

    monkeypatch.setattr(methods, "train", dies)
    out = tmp_path / "auto"
    with pytest.raises(Killed):
        A.auto(base, s, str(out), backbones=(tiny_model,), budget_s=3600, k=4, repeats=2, recipes=recipes,
               progress=False, worth=False, rule="argmax")
    monkeypatch.setattr(methods, "train", real)
    saved = json.loads((out / "auto.json").read_text())
    assert len(saved["cells"]) == 12
    # as on a slow machine: fine-tuning 100 s a fold, ahead; frozen 1 s a fold; 408 s spent of a 500 s budget, so
    # repeat 2 fits for no candidate once fine-tuning's final training (~150 s) is kept
    for key, c in saved["cells"].items():
        name = key.split("|")[0]
        c["seconds"] = 100.0 if name == "finetune" else 1.0
        c["accuracy"] = {"finetune": 0.9, "frozen_lr C=1": 0.8}.get(name, 0.5)
    (out / "auto.json").write_text(json.dumps(saved))
    r = A.auto(base, s, str(out), backbones=(tiny_model,), budget_s=500, k=4, repeats=2, recipes=recipes,
               progress=False, worth=False, rule="argmax", resume=True)
    assert r["chosen"]["recipe"] == "finetune" and r["stopped_before_repeat"] == 2
    assert "ended the search before repeat 2 of 2" in r["reason"]
    rows = {c["recipe"]: c for c in r["candidates"]}
    assert rows["finetune"]["repeats"] == 1 and rows["finetune"]["cv_accuracy"] == pytest.approx(0.9)
    assert rows["frozen_lr C=1"]["status"] == "finalist" and rows["frozen_lr C=100"]["status"].startswith("halving")
    assert (out / "final" / "model").exists() and "test" in r


def test_overwrite_starts_afresh(tiny_model, toy_files, tmp_path, monkeypatch):
    """--overwrite used to read the stored cells as --resume does (their settings matched), so a rerun scored
    nothing anew and a benchmark's wall clock timed only what was left (session 41)."""
    from lowdata import methods

    base = tiny_cfg(tiny_model, toy_files, tmp_path / "unused")
    s, out = _splits(toy_files, pool=False), str(tmp_path / "auto")
    kw = dict(backbones=(tiny_model,), budget_s=3600, k=2, repeats=1, recipes=RECIPES[:1], progress=False,
              worth=False)
    real, calls, killed = methods.train, [], []

    def counted(cfg, splits, **k):
        calls.append(cfg.output_dir)
        if len(calls) == 3 and not killed:
            killed.append(1)
            raise Killed("killed")  # at the final training: both folds' cells are stored
        return real(cfg, splits, **k)

    monkeypatch.setattr(methods, "train", counted)
    with pytest.raises(Killed):
        A.auto(base, s, out, **kw)
    assert len(json.loads((tmp_path / "auto" / "auto.json").read_text())["cells"]) == 2
    calls.clear()
    A.auto(base, s, out, overwrite=True, **kw)
    assert len(calls) == 3  # afresh: both folds and the final training (reused, it was the final alone)
