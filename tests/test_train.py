import json
import os
import subprocess
import sys

import pytest

from lowdata.errors import RunExistsError
from lowdata.methods import train as run  # methods.train: the method, then the model card
from lowdata.methods.finetune import run as finetune_run

from .conftest import tiny_cfg


def test_classifier_learns_separable_task_and_writes_outputs(tiny_model, toy_files, tmp_path):
    m = run(tiny_cfg(tiny_model, toy_files, tmp_path / "run", report_to=["tensorboard"]))
    assert m["test"]["accuracy"] >= 0.95, m["history"]
    out = tmp_path / "run"
    for f in ("config.yaml", "metrics.json", "report.md", "predictions.jsonl", "confusion_test.png",
              "model/config.json", "model/model.safetensors", "model/lowdata.json", "model/README.md",
                  "model/modeling_lowdata.py"):
        assert (out / f).exists(), f
    assert not (out / "checkpoint").exists()
    preds = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == 40 and {"text", "pred", "label", "confidence"} <= set(preds[0])
    report = (out / "report.md").read_text()
    assert "macro avg" in report and "Confusion matrix" in report
    assert any(f.name.startswith("events.out.tfevents") for f in (out / "tb").iterdir())


def test_ner_learns_and_reports_entities(tiny_model, toy_ner, tmp_path):
    m = run(tiny_cfg(tiny_model, toy_ner, tmp_path / "ner", task="ner", ext="conll", epochs=15))
    t = m["test"]
    assert t["f1"] >= 0.9, m["history"]
    assert set(t["per_type"]) >= {"PER", "LOC", "micro avg"} and "strict" in t
    rec = json.loads((tmp_path / "ner" / "predictions.jsonl").read_text().splitlines()[0])
    assert len(rec["tokens"]) == len(rec["pred"]) == len(rec["tags"])


def test_ner_warns_when_a_run_has_too_few_optimizer_steps():
    import warnings

    from lowdata.config import TrainConfig
    from lowdata.errors import LowdataWarning
    from lowdata.methods.finetune import _warn_few_steps

    with pytest.warns(LowdataWarning, match=r"train\.conll: 135 sentences x 10 epochs at batch 16 = 90 optimizer "
                                            r"steps; a tagger trained for fewer than 300"):
        _warn_few_steps(TrainConfig(epochs=10, batch_size=16), 135, "train.conll")
    with pytest.warns(LowdataWarning, match=r"NER training: train\.max_steps=200;"):
        _warn_few_steps(TrainConfig(epochs=10, max_steps=200), 5000, None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_few_steps(TrainConfig(epochs=10, batch_size=8, max_steps=600), 135, "train.conll")
        _warn_few_steps(TrainConfig(epochs=4, batch_size=16), 1350, "train.conll")  # 340 steps


def test_ner_test_tags_train_lacks_are_scored_as_missed(tiny_model, toy_ner, tmp_path):
    from lowdata.errors import LowdataWarning

    for name in ("dev", "test"):  # a third entity type that the training sample never has (a 1% sample's fate)
        f = toy_ner / f"{name}.conll"
        f.write_text(f.read_text() + "\nacme\tB-ORG\nsells\tO\n")
    with pytest.warns(LowdataWarning, match=r"test\.conll: tags in the test split that train never has: 'B-ORG' "
                                            r"\(1 tokens, first at line \d+\)"):
        m = run(tiny_cfg(tiny_model, toy_ner, tmp_path / "ner", task="ner", ext="conll", epochs=15))
    t = m["test"]
    assert "ORG" in t["per_type"] and t["per_type"]["ORG"]["recall"] == 0.0  # missed, and counted
    assert 0.85 <= t["f1"] < 1.0, t


def test_same_seed_same_metrics_on_cpu(tiny_model, toy_files, tmp_path):
    a = run(tiny_cfg(tiny_model, toy_files, tmp_path / "a", epochs=2))
    b = run(tiny_cfg(tiny_model, toy_files, tmp_path / "b", epochs=2))
    assert a["history"] == b["history"] and a["test"] == b["test"]
    pa, pb = ((tmp_path / x / "predictions.jsonl").read_text() for x in "ab")
    assert pa == pb  # confidences to 6 decimals, byte-identical
    run(tiny_cfg(tiny_model, toy_files, tmp_path / "c", epochs=2, seed=1))
    assert (tmp_path / "c" / "predictions.jsonl").read_text() != pa


def test_bf16_autocast_only_where_the_hardware_runs_it_and_runs_can_differ_in_one_process(tiny_model, toy_files,
                                                                                            tmp_path, monkeypatch):
    """train.bf16 trains under bf16 autocast where hardware.bf16_fast says bf16 is native (forced here, so the test
    does not depend on the CI machine's CPU), float32 elsewhere or with train.bf16=false; both kinds of run share a
    process (accelerate's per-process precision state is not used); a bf16 run is deterministic on CPU too."""
    import torch

    from lowdata import hardware
    from lowdata.config import TrainConfig
    from lowdata.loop import train_autocast

    monkeypatch.setattr(hardware, "bf16_fast", lambda device: True)
    cast = train_autocast(TrainConfig(), torch.device("cpu"))
    with cast():
        assert torch.nn.functional.linear(torch.ones(2, 3), torch.ones(4, 3)).dtype == torch.bfloat16
    assert train_autocast(TrainConfig(bf16=False), "cpu") is None
    seen = []
    orig = torch.nn.functional.linear

    def spy(*a, **k):
        out = orig(*a, **k)
        if torch.is_grad_enabled():  # training forwards (evaluation runs under inference_mode)
            seen.append(out.dtype)
        return out

    monkeypatch.setattr(torch.nn.functional, "linear", spy)
    a = run(tiny_cfg(tiny_model, toy_files, tmp_path / "a", epochs=6))
    assert set(seen) == {torch.bfloat16} and a["test"]["accuracy"] >= 0.95, a["history"]
    seen.clear()
    f = run(tiny_cfg(tiny_model, toy_files, tmp_path / "f", epochs=6, bf16=False))  # same process, float32
    preds = {x: (tmp_path / x / "predictions.jsonl").read_text() for x in "af"}
    assert set(seen) == {torch.float32} and preds["f"] != preds["a"]  # other weights: other confidences
    b = run(tiny_cfg(tiny_model, toy_files, tmp_path / "b", epochs=6))
    assert b["test"] == a["test"] and (tmp_path / "b" / "predictions.jsonl").read_text() == preds["a"]
    monkeypatch.setattr(hardware, "bf16_fast", lambda device: False)  # no native bf16: float32 whatever the config
    seen.clear()
    run(tiny_cfg(tiny_model, toy_files, tmp_path / "n", epochs=1))
    assert set(seen) == {torch.float32}


def test_refuses_to_overwrite_a_finished_run(tiny_model, toy_files, tmp_path):
    run(tiny_cfg(tiny_model, toy_files, tmp_path / "r", epochs=1))
    with pytest.raises(RunExistsError, match="finished run"):
        run(tiny_cfg(tiny_model, toy_files, tmp_path / "r", epochs=1))
    run(tiny_cfg(tiny_model, toy_files, tmp_path / "r", epochs=1), overwrite=True)


def test_early_stopping_and_best_restore(tiny_model, toy_files, tmp_path):
    # lr=0: dev never improves after the first evaluation, so patience=2 stops after 3 evaluations.
    m = run(tiny_cfg(tiny_model, toy_files, tmp_path / "es", epochs=20, lr=0.0, head_lr=0.0, patience=2))
    assert len(m["history"]) == 3 and m["best_step"] == m["history"][0]["step"]
    assert f"(best on dev at step {m['best_step']})" in (tmp_path / "es" / "report.md").read_text()


def test_max_steps(tiny_model, toy_files, tmp_path):
    cfg = tiny_cfg(tiny_model, toy_files, tmp_path / "ms", epochs=100, max_steps=11)
    cfg.data.dev = None
    m = run(cfg)
    assert m["steps"] == 11 and m["history"] == []
    assert "11 steps (the last step's model, no dev)" in (tmp_path / "ms" / "report.md").read_text()


def _cli_train(cfg_path, out, *extra, env=None):
    return subprocess.run([sys.executable, "-m", "lowdata.cli", "train", "-c", str(cfg_path), f"output_dir={out}",
                           *extra], capture_output=True, text=True, env=env)


def test_kill_and_resume_matches_uninterrupted_run(tiny_model, toy_files, tmp_path):
    """SIGKILL mid-epoch (step 13 of 8-step epochs), then --resume: same metrics as a run never killed."""
    import yaml

    from lowdata.config import to_dict

    cfg = tiny_cfg(tiny_model, toy_files, "x", epochs=4, save_every=3, lr=1e-3, head_lr=1e-3)
    d = to_dict(cfg)
    d.pop("output_dir")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(d))
    full = _cli_train(tmp_path / "c.yaml", tmp_path / "full")
    assert full.returncode == 0, full.stderr
    env = {**os.environ, "LOWDATA_TEST_KILL_AT_STEP": "13"}
    killed = _cli_train(tmp_path / "c.yaml", tmp_path / "killed", env=env)
    assert killed.returncode == -9, killed.stderr  # really killed by SIGKILL
    assert not (tmp_path / "killed" / "metrics.json").exists()
    again = _cli_train(tmp_path / "c.yaml", tmp_path / "killed")
    assert again.returncode == 2 and "--resume" in again.stderr  # never silently restarts over a run
    resumed = _cli_train(tmp_path / "c.yaml", tmp_path / "killed", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from step 12" in resumed.stdout + resumed.stderr
    a = json.loads((tmp_path / "full" / "metrics.json").read_text())
    b = json.loads((tmp_path / "killed" / "metrics.json").read_text())
    assert a["history"] == b["history"]
    assert a["test"] == b["test"]


class _CountingSSL:
    """Checks the ssl= extension point: the loop passes an unlabeled batch and adds the returned loss."""
    mu = 2

    def __init__(self):
        self.calls, self.sizes = 0, []

    def loss(self, model, batch, unlabeled, step):
        self.calls += 1
        self.sizes.append(unlabeled["input_ids"].shape[0])
        assert "labels" not in unlabeled
        return model(unlabeled["input_ids"], unlabeled["attention_mask"]).sum() * 0.0, {"ssl/calls": self.calls}


def test_ssl_and_augment_arguments(tiny_model, toy_files, tmp_path):
    from lowdata.data.splits import load_splits

    cfg = tiny_cfg(tiny_model, toy_files, tmp_path / "s", epochs=1)
    cfg.data.k_per_class = 4
    splits = load_splits(cfg.data, seed=0)
    assert len(splits["train"]) == 8 and splits["unlabeled"].labels is None
    ssl = _CountingSSL()
    seen = []

    def augment(texts):
        seen.extend(texts)
        return [[t + " again", t.upper()] for t in texts]

    m = finetune_run(cfg, splits, ssl=ssl, augment=augment)
    assert seen == splits["train"].texts
    assert ssl.calls == m["steps"] == 3  # 8 labeled + 16 augmented = 24 examples / batch 8
    assert set(ssl.sizes) == {16}


def test_config_augment_section_and_multiview(tiny_model, toy_files, tmp_path):
    cfg = tiny_cfg(tiny_model, toy_files, tmp_path / "aug", epochs=1, batch_size=8)
    cfg.augment.specs = ["swap:alpha=0.5,n=2", "reverse"]
    m = run(cfg)
    assert m["steps"] == 32  # 64 originals + 128 swapped + 64 reversed = 256 examples / 8
    cfg = tiny_cfg(tiny_model, toy_files, tmp_path / "mv", epochs=4, report_to=["tensorboard"])
    cfg.augment.multiview = "reverse"
    m = run(cfg)
    assert m["test"]["accuracy"] >= 0.95
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(tmp_path / "mv" / "tb"))
    ea.Reload()
    assert "multiview/kl" in ea.Tags()["scalars"]


def test_linear_probe_init_sets_a_working_head(tiny_model, toy_files, tmp_path):
    import torch

    from lowdata.backbone import TaskModel, load_encoder
    from lowdata.batching import collate, encode
    from lowdata.data import LabelMap, read
    from lowdata.probe import linear_probe_init

    data = read(str(toy_files / "train.tsv"))
    labels = LabelMap.from_data(data)
    enc_model, tok = load_encoder(tiny_model)
    model = TaskModel(enc_model, 2)
    enc = encode(data, tok, labels, 32)
    linear_probe_init(model, enc, tok.pad_token_id, 16)
    model.eval()
    b = collate(enc, list(range(len(enc))), tok.pad_token_id)
    with torch.no_grad():
        acc = (model(b["input_ids"], b["attention_mask"]).argmax(-1) == b["labels"]).float().mean().item()
    assert acc >= 0.9  # the probe alone separates the toy task (a random head would be near 0.5)
    # one epoch on the tiny model swings with the dropout draw (0.85-1.0 over seeds): the mean of three
    accs = [run(tiny_cfg(tiny_model, toy_files, tmp_path / f"lp{s}", epochs=1, lp_init=True, seed=s))["test"]
            ["accuracy"] for s in range(3)]
    assert sum(accs) / 3 >= 0.9, accs


def test_generalized_cross_entropy_loss():
    import torch
    import torch.nn.functional as F

    from lowdata.batching import IGNORE
    from lowdata.loop import gce_loss

    torch.manual_seed(0)
    logits, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 1, IGNORE])
    keep = y != IGNORE
    p_y = F.softmax(logits[keep], -1).gather(1, y[keep, None]).squeeze(1)
    assert torch.allclose(gce_loss(logits, y, 1.0), (1 - p_y).mean())  # q = 1: mean absolute error on p_y
    assert torch.allclose(gce_loss(logits, y, 1e-4), F.cross_entropy(logits, y, ignore_index=IGNORE), atol=1e-3)
    # its gradient is cross-entropy's, scaled per example by p_y^q: unlikely (possibly mislabeled) examples pull less
    grads = []
    for q in (0.7, None):
        z = logits.clone().requires_grad_()
        (gce_loss(z, y, q) if q else F.cross_entropy(z, y, ignore_index=IGNORE)).backward()
        grads.append(z.grad)
    assert torch.allclose(grads[0][keep], grads[1][keep] * (p_y ** 0.7)[:, None], atol=1e-6)
    assert torch.equal(grads[0][~keep], torch.zeros(1, 4))  # the IGNORE position gets no gradient
    with pytest.raises(ValueError, match="q must be"):
        gce_loss(logits, y, 0.0)


def test_gce_trains_from_config_and_rejects_bad_q(tiny_model, toy_files, tmp_path):
    from lowdata.config import ConfigError

    m = run(tiny_cfg(tiny_model, toy_files, tmp_path / "gce", gce_q=0.7))
    assert m["test"]["accuracy"] >= 0.9, m["history"]
    with pytest.raises(ConfigError, match="train.gce_q"):
        run(tiny_cfg(tiny_model, toy_files, tmp_path / "bad", gce_q=1.5))
    assert not (tmp_path / "bad").exists()  # refused before the output dir is made
    cfg = tiny_cfg(tiny_model, toy_files, tmp_path / "uda", gce_q=0.7)
    cfg.ssl.method, cfg.data.k_per_class = "uda", 4
    with pytest.raises(ConfigError, match="own supervised term"):  # UDA's TSA term would silently ignore gce_q
        run(cfg)


def test_training_after_another_library_set_accelerate_to_bf16(tiny_model, toy_files, tmp_path):
    """A Trainer with bf16=True (or any Accelerator) that ran earlier in the process leaves accelerate's per-process
    state in bf16; lowdata's next run must neither fail on it nor inherit that precision."""
    import torch
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    from lowdata.config import TrainConfig
    from lowdata.loop import accelerator

    AcceleratorState._reset_state(reset_partial_state=True)  # what transformers' Trainer does before its own
    Accelerator(cpu=True, mixed_precision="bf16")
    acc = accelerator(TrainConfig())
    assert acc.mixed_precision == "no" and acc.device == torch.device("cpu")
    m = run(tiny_cfg(tiny_model, toy_files, tmp_path / "r", epochs=2))
    assert m["test"]["accuracy"] > 0
