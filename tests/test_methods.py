"""Contract over every registered method (lowdata.methods.METHODS): the same seed gives the same metrics on CPU, a bad
section is refused with the valid choices before anything is written, and every method writes the same run layout."""
import json
import os

import pytest

from lowdata.config import ConfigError
from lowdata.methods import METHODS, method_of, train

from .conftest import tiny_cfg

SSL_METHOD = {"finetune": None, "frozen": "frozen_lr", "self_training": "self_training", "setfit": None,
              "multilabel": None, "fusion": None}  # fusion last: the loop below reads its config after
# a value each method's own settings refuse, and what the message must list
BAD = {"finetune": ("train", "batch_size", 0, "expected an integer >= 1"),
       "frozen": ("frozen", "k", 0, "expected an integer >= 1"),
       "self_training": ("self_training", "select_round", "best", "one of dev, last"),
       "setfit": ("contrastive", "batch_size", 1, "expected an integer >= 2"),
       "fusion": ("pretrain", "lr", -1.0, "expected a number > 0"),
       "multilabel": ("multilabel", "thresholds", "best", "one of auto, dev, cv, fixed")}
LAYOUT = ("config.yaml", "metrics.json", "report.md", "predictions.jsonl")


def _cfg(name, tiny_model, toy_files, out):
    cfg = tiny_cfg(tiny_model, toy_files, out, epochs=2)
    cfg.data.k_per_class = 8  # the rest of train is the unlabeled pool
    cfg.ssl.method = SSL_METHOD[name]
    cfg.self_training.rounds, cfg.self_training.threshold = 2, 0.5
    if name == "setfit":  # SetFit as published: pairs, then a logistic-regression head, no fine-tuning epochs
        cfg.contrastive.pairs, cfg.contrastive.max_steps, cfg.train.epochs = 2, 4, 0
    if name == "fusion":  # a few steps of MLM on the run's own text, then fine-tuning
        cfg.pretrain.max_steps, cfg.pretrain.batch_size = 3, 8
    if name == "multilabel":  # the toy labels read as one-label sets; k per label
        cfg.data.task = "multilabel"
    return cfg


def _stable(m: dict) -> dict:
    return {k: v for k, v in m.items() if k in ("dev", "test", "n_train", "labels", "steps", "history",
                                                 "self_training", "selected_round", "final_run")}


def test_every_method_is_registered_and_named_by_config():
    assert METHODS.names() == ["finetune", "frozen", "fusion", "multilabel", "self_training", "setfit"]
    from lowdata.config import Config

    for name, ssl in SSL_METHOD.items():
        c = Config()
        c.ssl.method = ssl
        if name == "setfit":
            c.contrastive.pairs, c.train.epochs = 20, 0
        if name == "fusion":
            c.pretrain.epochs = 1
        if name == "multilabel":
            c.data.task = "multilabel"
        assert method_of(c) == name
    assert method_of(c, after_pretrain=True) == "finetune"
    for ssl in ("fixmatch", "uda", "gan_bert"):  # in-loop losses are fine-tuning with an ssl= argument
        c = Config()
        c.ssl.method = ssl
        assert method_of(c) == "finetune"


@pytest.mark.parametrize("name", sorted(SSL_METHOD))
def test_method_contract(name, tiny_model, toy_files, tmp_path, monkeypatch):
    monkeypatch.setenv("LOWDATA_CACHE", str(tmp_path / "cache"))
    runs = []
    for i in range(2):
        out = tmp_path / f"run{i}"
        m = train(_cfg(name, tiny_model, toy_files, out))
        for f in LAYOUT:
            assert (out / f).exists(), f"{name}: {f} missing"
        assert not [f for f in os.listdir(out) if f.endswith(".tmp")]
        assert json.loads((out / "metrics.json").read_text())["test"] == m["test"]
        runs.append(_stable(m))
    assert runs[0] == runs[1], f"{name}: same seed, different metrics"
    assert runs[0]["test"]["n"] == 40

    section, key, value, valid = BAD[name]
    cfg = _cfg(name, tiny_model, toy_files, tmp_path / "bad")
    setattr(getattr(cfg, section), key, value)
    with pytest.raises(ConfigError, match=f"{section}.{key}: .*{valid}"):
        train(cfg)
    assert not (tmp_path / "bad").exists()  # refused before anything was written


def test_no_import_cycle_and_the_loop_knows_no_method():
    """scripts/import_graph.py over src/lowdata: no cycle among lowdata's modules (deferred imports counted), and
    the loop imports only batching, dropout, errors, hardware, logging and run-directory helpers."""
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("import_graph", root / "scripts" / "import_graph.py")
    ig = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ig)
    mods = ig.modules(str(root / "src" / "lowdata"))
    edges = ig.edges(mods)
    graph = {m: set() for m in mods}
    for a, b, _, _ in edges:
        graph[a].add(b)
    assert ig.cycles(graph) == []
    assert graph["lowdata.loop"] <= {"lowdata.batching", "lowdata.dropout", "lowdata.errors", "lowdata.hardware",
                                       "lowdata.loggers", "lowdata.runs"}
    assert not any(m.startswith("lowdata.methods") for m in graph["lowdata.ssl"] | graph["lowdata.loop"])
    # the checker finds a cycle when there is one
    assert ig.cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]
