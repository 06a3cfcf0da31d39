import json
import os
import subprocess
import sys
import time

import yaml

from lowdata.config import to_dict

from .conftest import tiny_cfg

LOWDATA = [sys.executable, "-m", "lowdata.cli"]


def sh(*args, input=None):
    return subprocess.run([*LOWDATA, *args], capture_output=True, text=True, input=input)


def test_help_is_fast():
    exe = os.path.join(os.path.dirname(sys.executable), "lowdata")
    cmd = [exe, "--help"] if os.path.exists(exe) else [*LOWDATA, "--help"]
    best = 9.9
    for _ in range(3):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        best = min(best, time.perf_counter() - t0)
        assert r.returncode == 0 and "demo" in r.stdout
    assert best < 0.5, f"lowdata --help took {best:.2f}s"
    # and no heavy library is imported by the CLI module
    r = subprocess.run([sys.executable, "-c", "import sys, lowdata.cli; print(sorted(m for m in ('torch', "
                        "'transformers', 'numpy', 'yaml') if m in sys.modules))"], capture_output=True, text=True)
    assert r.stdout.strip() == "[]"


def test_train_eval_predict_ls(tiny_model, toy_files, tmp_path):
    cfg = to_dict(tiny_cfg(tiny_model, toy_files, tmp_path / "run"))
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    r = sh("train", "-c", str(tmp_path / "c.yaml"), "train.epochs=3", f"output_dir={tmp_path / 'run'}")
    assert r.returncode == 0, r.stderr
    assert "test: accuracy" in r.stdout
    resolved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert resolved["train"]["epochs"] == 3 and resolved["model"]["name"] == tiny_model

    model = str(tmp_path / "run" / "model")
    r = sh("eval", "--model", model, "--data", str(toy_files / "test.tsv"), "--out", str(tmp_path / "ev"))
    assert r.returncode == 0, r.stderr
    ev = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    run_m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert ev["accuracy"] == run_m["test"]["accuracy"]  # reloaded model = trained model

    r = sh("predict", "--model", model, input="good good movie\nawful bad movie\n")
    assert r.returncode == 0, r.stderr
    preds = [json.loads(x)["pred"] for x in r.stdout.splitlines()]
    assert preds == ["pos", "neg"]

    r = sh("predict", "--model", model, "-i", str(toy_files / "dev.tsv"), "-o", str(tmp_path / "p.jsonl"))
    assert r.returncode == 0, r.stderr
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) == 32

    r = sh("ls")
    assert r.returncode == 0 and "minilm" in r.stdout and "conll" in r.stdout


def test_bad_input_exits_2_with_file_and_line(tiny_model, toy_files, tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_bytes(b"pos\tfine\nneg\t\xff\xfe\n")
    r = sh("train", f"model.name={tiny_model}", f"data.train={bad}", f"output_dir={tmp_path / 'o'}")
    assert r.returncode == 2
    assert f"{bad}, line 2: undecodable bytes" in r.stderr
    assert "Traceback" not in r.stderr

    r = sh("train", "train.epoch=3")
    assert r.returncode == 2 and "unknown key 'epoch'" in r.stderr and "epochs" in r.stderr

    r = sh("train", "-c", str(tmp_path / "missing.yaml"))
    assert r.returncode == 2 and "missing.yaml: config file not found" in r.stderr

    (tmp_path / "broken.yaml").write_text("train:\n  lr: [1, 2\n")
    r = sh("train", "-c", str(tmp_path / "broken.yaml"))
    assert r.returncode == 2 and "broken.yaml, line" in r.stderr

    dev = tmp_path / "dev.tsv"
    dev.write_text("pos\tgood\nmeh\tso so\n")
    r = sh("train", f"model.name={tiny_model}", f"data.train={toy_files / 'train.tsv'}", f"data.dev={dev}",
           f"output_dir={tmp_path / 'o2'}")
    assert r.returncode == 2 and f"{dev}, line 2: label 'meh' in the dev split is absent from train" in r.stderr

    r = sh("predict", "--model", str(tmp_path / "nomodel"), input="x\n")
    assert r.returncode == 2 and "not a lowdata model directory" in r.stderr


def test_summary_says_where_graph_predict_scores_are(capsys, tmp_path):
    """With ssl.graph_predict the printed dev/test scores are the student + graph ensemble's: the summary also prints
    the student's own and points at graph_predict/, not only at the last round."""
    from lowdata.cli import _summary

    acc = lambda a: {"task": "classify", "accuracy": a}  # noqa: E731
    m = {"test": acc(0.8726), "dev": None, "student": {"dev": None, "test": acc(0.8674)}, "selected_round": 2,
         "self_training": [{"round": 0}, {"round": 1}, {"round": 2}], "final_run": "round_2",
         "scores_from": "graph_predict"}
    _summary(m, "runs/x")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "test: accuracy 0.8726"
    assert out[1] == "test, the final student alone: accuracy 0.8674"
    assert out[2].endswith("; the final model: runs/x/round_2/model")
    assert out[3].startswith("student + graph scores written to runs/x/graph_predict")
    _summary({"test": acc(0.6), "selected_round": 0, "self_training": [{"round": 0}, {"round": 1}],
              "final_run": "round_0"}, "runs/z")
    assert "the final model: runs/z/round_0/model (best dev accuracy)" in capsys.readouterr().out  # chosen on dev
    os.makedirs(tmp_path / "y" / "model")
    _summary({"test": acc(0.5)}, str(tmp_path / "y"))  # a plain run: no student line, no graph_predict line
    assert capsys.readouterr().out.splitlines() == ["test: accuracy 0.5000", f"run written to {tmp_path / 'y'} (report.md, "
                                                    "metrics.json, predictions.jsonl, model/)"]
