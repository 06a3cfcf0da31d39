"""Bad input, as a new user and a hostile one would give it (issue 19): one table case per class of failure.

Each case runs the CLI in-process (`lowdata.cli.main`) and asserts the exit code, that the one-line message names the
file/line or key and what was valid, and that no file in the case's folder changed (inputs and outputs alike).
Classes: 1 code from a run directory, 2 output over input, 3 silently wrong data, 4 resume with a changed config,
5 invalid numbers, 6 label names that broke reports, 7 a failed start blocking its rerun, 8 tracebacks instead of
one line, 9 silent truncation (tests at the end), 10 two runs on one output_dir.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time

import pytest
import yaml

from lowdata.cli import main
from lowdata.config import to_dict

from .conftest import tiny_cfg


def snapshot(root) -> dict:
    """path -> sha1 of every file under root (the lock file left out: it holds a pid)."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            if f == ".lowdata.lock":
                continue
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = hashlib.sha1(fh.read()).hexdigest()
    return out


class Env:
    """A case's folder: the toy data, a config file, and (when a case needs one) a trained model."""

    def __init__(self, root, tiny_model, files):
        self.root, self.tiny, self.files = root, tiny_model, files
        cfg = to_dict(tiny_cfg(tiny_model, files, root / "run", epochs=1, save_every=2))
        self.cfg = root / "c.yaml"
        self.cfg.write_text(yaml.safe_dump(cfg))

    def write(self, name, text):
        p = self.root / name
        p.write_text(text, encoding="utf-8")
        return str(p)

    def write_bytes(self, name, data: bytes):
        p = self.root / name
        p.write_bytes(data)
        return str(p)

    def train(self, *overrides):
        return ["train", "-c", str(self.cfg), *overrides]


@pytest.fixture(scope="module")
def trained(tiny_model, tmp_path_factory):
    """One small classifier for the cases that need a model (predict, eval, attack)."""
    import random

    root = tmp_path_factory.mktemp("model")
    rng = random.Random(0)
    rows = [f"{lab}\t{rng.choice(['good', 'great'] if lab == 'pos' else ['bad', 'awful'])} movie"
            for lab in rng.choices(["pos", "neg"], k=40)]
    (root / "train.tsv").write_text("\n".join(rows) + "\n")
    cfg = tiny_cfg(tiny_model, root, root / "run", epochs=2)
    cfg.data.dev = cfg.data.test = None
    (root / "c.yaml").write_text(yaml.safe_dump(to_dict(cfg)))
    assert main(["train", "-c", str(root / "c.yaml")]) == 0
    return str(root / "run" / "model")


class Crafted:
    """Unpickling this runs a command: what a hostile checkpoint would hold."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _unfinished_run(env, which: str | None = None):
    """A real unfinished run (killed at step 5, after checkpoints at steps 2 and 4), then, with `which`, one of its
    .pt files replaced by a crafted one."""
    import torch

    cfg = yaml.safe_load(env.cfg.read_text())
    cfg["train"].update(epochs=5, eval_every=2)  # the config every later command of the case uses
    env.cfg.write_text(yaml.safe_dump(cfg))
    r = subprocess.run([sys.executable, "-m", "lowdata.cli", *env.train()],
                       env={**os.environ, "LOWDATA_TEST_KILL_AT_STEP": "5"}, capture_output=True, text=True)
    assert r.returncode == -9, r.stderr
    ck = env.root / "run" / "checkpoint"
    assert (ck / "state.pt").exists() and (ck / "best.pt").exists()
    if which:
        torch.save({"model": Crafted(str(env.root / "PWNED"))}, ck / which)


def _not_marker(env):
    return not os.path.exists(env.root / "PWNED")


def _train_on(name: str, text: str):
    """A case's setup: train on a file holding `text` (no dev or test)."""
    return lambda e: e.train(f"data.train={e.write(name, text)}", "data.dev=null", "data.test=null")


def _merge_label_studio(env, value):
    """A batch of one text as lowdata select writes it, and a Label Studio export whose answer is `value`."""
    env.write("b.csv", "id,text,label\n1,a,\n")
    env.write("b.csv.lowdata.json", json.dumps({"ids": ["1"], "texts": ["a"]}))
    task = {"data": {"lowdata_id": "1", "text": "a"}, "annotations": [{"result": [{"value": value}]}]}
    return ["merge", "--annotated", env.write("ls.json", json.dumps([task])), "--batch", str(env.root / "b.csv"),
            "-o", str(env.root / "m.tsv")]


def _config_bytes(env, data: bytes):
    env.write_bytes("bad.yaml", data)
    return ["train", "-c", str(env.root / "bad.yaml")]


def _config_file(env, text):
    env.write("bad.yaml", text)
    return ["train", "-c", str(env.root / "bad.yaml")]


# (case id, issue class, setup(env) -> argv, exit code, substrings of stderr, extra check(env) or None)
CASES = [
    # 1. code execution from a run directory
    ("crafted_state_pt", 1, lambda e: (_unfinished_run(e, "state.pt"), e.train("--resume"))[1], 2,
     ["state.pt", "not a checkpoint lowdata can load safely", "never unpickles"], _not_marker),
    ("crafted_best_pt", 1, lambda e: (_unfinished_run(e, "best.pt"), e.train("--resume"))[1], 2,
     ["best.pt", "not a checkpoint lowdata can load safely"], _not_marker),
    # 2. output over input
    ("predict_over_its_input", 2, lambda e: ["predict", "--model", e.model, "-i", str(e.files / "test.tsv"), "-o",
                                            str(e.files / "test.tsv"), "--overwrite"], 2,
     ["test.tsv", "the output is the input file", "never writes over its input"], None),
    ("predict_over_existing_output", 2, lambda e: ["predict", "--model", e.model, "-i", str(e.files / "test.tsv"),
                                                  "-o", e.write("old.jsonl", "{}\n")], 2,
     ["old.jsonl", "exists", "--overwrite"], None),
    ("augment_over_its_input", 2, lambda e: ["augment", "-i", str(e.files / "train.tsv"), "-o",
                                            str(e.files / "train.tsv"), "--aug", "swap", "--overwrite"], 2,
     ["train.tsv", "never overwrites its input"], None),
    ("eval_over_existing_report", 2, lambda e: (os.makedirs(e.root / "ev"), e.write("ev/metrics.json", "{}"),
                                               ["eval", "--model", e.model, "--data", str(e.files / "test.tsv"),
                                                "--out", str(e.root / "ev")])[2], 2,
     ["metrics.json", "exists", "--overwrite"], None),
    ("train_input_where_run_writes", 2, lambda e: (os.makedirs(e.root / "run"),
                                                  e.write("run/predictions.jsonl", '{"text": "a", "label": "x"}\n'),
                                                  e.train(f"data.train={e.root / 'run' / 'predictions.jsonl'}"))[2],
     2, ["predictions.jsonl", "lies where the run writes"], None),
    # 3. silently wrong data
    ("csv_row_with_extra_field", 3, _train_on("t.csv", "text,label\nI liked it, a lot,1\nbad,0\n"), 2,
     ["t.csv, line 2", "expected 2 fields", "header: text,label", "quote"], None),
    ("csv_quote_never_closed", 3, _train_on("t.csv", 'text,label\n"I liked it,1\nbad,0\n'), 2,
     ["t.csv, line 2", "'\"' opened on this line is not closed", "the end of the file", "expected 2 fields"], None),
    ("jsonl_float_label", 3, _train_on("t.jsonl", '{"text": "a", "label": 1.5}\n'), 2,
     ["t.jsonl, line 1", "label to be a string or an integer", "float 1.5"], None),
    ("jsonl_list_label", 3, _train_on("t.jsonl", '{"text": "a", "label": ["x", "y"]}\n'), 2,
     ["t.jsonl, line 1", "a list"], None),
    ("tsv_label_without_text", 3, _train_on("t.tsv", "pos\t\nneg\tbad\n"), 2,
     ["t.tsv, line 1", "expected a label and a text on each row", "has 1 field"], None),
    ("predict_undecodable_bytes", 8, lambda e: ["predict", "--model", e.model, "-i", e.write_bytes(
        "b.txt", b"fine\nok\n\xff\xfe bad\n"), "-o", str(e.root / "p.jsonl"), "--no-progress"], 2,
     ["b.txt, line 3", "undecodable bytes", "expected UTF-8 text"], lambda e: not os.path.exists(e.root / "p.jsonl")),
    ("conll_with_classify_task", 3, _train_on("t.conll", "EU\tB-ORG\nrejects\tO\n"), 2,
     ["t.conll", "NER data", "data.task=ner"], None),
    ("plain_text_as_labeled_train", 3, _train_on("pool.txt", "".join(f"word{i} is sentence {i}\n" for i in range(40))),
     2, ["pool.txt", "does not look like 'label text'", "data.unlabeled"], None),
    # 4. resume with a changed config
    ("resume_with_changed_lr", 4, lambda e: (_unfinished_run(e), e.train("--resume", "train.lr=0.01"))[1], 2,
     ["--resume with a config that differs", "train.lr: 0.005 -> 0.01", "--allow-config-change"], None),
    # 5. invalid numbers, refused at load time with the valid range
    ("negative_batch_size", 5, lambda e: e.train("train.batch_size=-8"), 2,
     ["c.yaml", "train.batch_size", "expected an integer >= 1", "-8"], None),
    ("negative_max_steps", 5, lambda e: e.train("train.max_steps=-5"), 2, ["train.max_steps", ">= 0", "-5"], None),
    ("negative_k_per_class", 5, lambda e: e.train("data.k_per_class=-3"), 2, ["data.k_per_class", ">= 1"], None),
    ("dev_fraction_above_one", 5, lambda e: e.train("data.dev_fraction=1.5"), 2, ["data.dev_fraction", "< 1", "1.5"],
     None),
    ("zero_epochs", 5, lambda e: e.train("train.epochs=0"), 2, ["train.epochs", "would train nothing"], None),
    ("zero_max_length", 5, lambda e: e.train("model.max_length=0"), 2, ["model.max_length", ">= 8"], None),
    ("eda_alpha_above_one", 5, lambda e: e.train("augment.specs=[eda:alpha=2]"), 2,
     ["augment.specs[0]", "alpha expected a number in [0, 1]", "2"], None),
    ("negative_workers", 5, lambda e: ["augment", "-i", str(e.files / "train.tsv"), "-o", str(e.root / "a.tsv"),
                                       "--aug", "swap", "--workers", "-2"], 2,
     ["--workers", "expected an integer >= 1"], None),
    ("nan_lr", 5, lambda e: e.train("train.lr=.nan"), 2, ["train.lr", ">= 0", "nan"], None),
    ("label_column_name_without_header", 8, lambda e: e.train("data.label_column=nope"), 2,  # int('nope') traceback
     ["train.tsv, line 1", "label_column 'nope' is a name", "no header row", "0 to 1"], None),
    ("fraction_loses_a_class", 3, lambda e: e.train("data.fraction=0.001"), 2,  # blamed the dev file before
     ["train.tsv", "data.fraction=0.001 keeps 1 of", "no example of"], None),
    ("infinite_lr", 5, lambda e: e.train("train.lr=.inf"), 2, ["train.lr", ">= 0", "inf"], None),  # trained to nan
    ("config_key_twice", 3, lambda e: _config_file(e, "train: {lr: 1}\ntrain: {lr: 2}\n"), 2,  # the first was lost
     ["bad.yaml, line 2", "'train' appears twice", "first at line 1"], None),
    ("config_not_utf8", 8, lambda e: _config_bytes(e, b"\x80\x81"),
     2, ["bad.yaml", "not UTF-8"], None),
    ("unknown_report_to", 5, lambda e: e.train("train.report_to=[tensorbord]"), 2,
     ["report_to", "tensorbord", "valid: tensorboard"], None),
    # 7. a failed start leaves nothing behind (the rerun check is test_failed_start_does_not_block_its_rerun)
    ("missing_train_file_leaves_no_dir", 7, lambda e: e.train(f"data.train={e.root / 'nope.tsv'}"), 2,
     ["nope.tsv", "file not found"], lambda e: not os.path.exists(e.root / "run")),
    # 8. one line and exit 2, not a traceback
    ("missing_local_model", 8, lambda e: e.train("model.name=/nope/model"), 2,
     ["model.name='/nope/model'", "no such folder", "minilm"], lambda e: not os.path.exists(e.root / "run")),
    ("offline_hub_name", 8, lambda e: e.train("model.name=someone/not-a-model"), 2,
     ["model.name='someone/not-a-model'", "cannot load it", "offline"], lambda e: not os.path.exists(e.root / "run")),
    ("zero_batch_size", 8, lambda e: e.train("train.batch_size=0"), 2, ["train.batch_size", ">= 1"], None),
    ("pooling_max", 8, lambda e: e.train("model.pooling=max"), 2, ["model.pooling", "one of mean, cls", "'max'"], None),
    ("negative_lr", 8, lambda e: e.train("train.lr=-1"), 2, ["train.lr", ">= 0", "-1"], None),
    ("yaml_top_level_list", 8, lambda e: _config_file(e, "- a\n- b\n"), 2,
     ["bad.yaml", "mapping of sections", "list"], None),
    ("invalid_yaml", 8, lambda e: _config_file(e, "train: {lr: [\n"), 2, ["bad.yaml, line", "invalid YAML"], None),
    ("output_dir_is_a_file", 8, lambda e: e.train(f"output_dir={e.write('afile', 'x')}"), 2,
     ["afile", "output_dir is a file"], None),
    ("output_dir_not_writable", 8, lambda e: e.train("output_dir=/proc/lowdata-run"), 2,
     ["/proc/lowdata-run", "not writable"], None),
    ("eda_alpha_not_a_number", 8, lambda e: ["augment", "-i", str(e.files / "train.tsv"), "-o", str(e.root / "a.tsv"),
                                             "--aug", "eda:alpha=abc"], 2, ["eda:alpha=abc", "alpha expected a number"],
     lambda e: not os.path.exists(e.root / "a.tsv")),
    ("unknown_config_key", 8, lambda e: e.train("train.lrate=1"), 2, ["unknown key 'lrate'", "valid:", "lr"], None),
    ("hf_format_on_a_plain_folder", 8, lambda e: (os.makedirs(e.root / "ds"),
                                                 e.train(f"data.train={e.root / 'ds'}", "data.format=hf"))[1], 2,
     ["ds: cannot load it as a save_to_disk folder", "offline, give a local file"],
     lambda e: not os.path.exists(e.root / "run")),
    ("not_a_model_dir", 8, lambda e: ["predict", "--model", str(e.files), "-i", str(e.files / "test.tsv")], 2,
     ["not a lowdata model directory"], None),
    ("unknown_ssl_method", 8, lambda e: e.train("ssl.method=fixmatc"), 2, ["ssl.method", "fixmatch"], None),
    ("auto_one_class", 8, lambda e: ["auto", "--train", e.write("one.tsv", "pos\tgood\npos\tfine\npos\tgreat\n"),
                                     "-o", str(e.root / "au"), f"model.name={e.tiny}", "--no-progress"], 2,
     ["one.tsv", "at least two classes", "['pos']"], lambda e: not os.path.exists(e.root / "au")),
    ("auto_model_name_not_in_backbones", 8, lambda e: ["auto", "--train", str(e.files / "train.tsv"), "-o",
                                                       str(e.root / "au"), f"model.name={e.tiny}", "--backbones",
                                                       "minilm", "--no-progress"], 2,
     ["model.name=", "--backbones minilm", "disagree"], lambda e: not os.path.exists(e.root / "au")),
    ("label_studio_choices_not_a_list", 3, lambda e: _merge_label_studio(e, {"choices": 5}), 2,
     ["ls.json", "task 1", "choices 5", "expected a list holding one label"],
     lambda e: not os.path.exists(e.root / "m.tsv")),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, tiny_model, toy_files, tmp_path, trained, capsys):
    name, cls, setup, code, needles, extra = case
    env = Env(tmp_path, tiny_model, toy_files)
    env.model = trained
    argv = setup(env)
    before = snapshot(tmp_path)
    try:
        rc = main(argv)
    except SystemExit as ex:  # argparse's own refusals (a flag's type): exit 2 with one line
        rc = ex.code
    err = capsys.readouterr().err
    assert rc == code, f"{name}: exit {rc}, stderr: {err}"
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("lowdata: note:")]
    assert lines and "Traceback" not in err, err
    msg = lines[-1]
    for n in needles:
        assert n in msg, f"{name}: {n!r} not in {msg!r}"
    assert snapshot(tmp_path) == before, f"{name}: files changed"
    if extra is not None:
        assert extra(env), f"{name}: extra check failed"


def test_every_class_is_covered():
    covered = {c[1] for c in CASES} | {6, 7, 9, 10}  # 6, 7, 9, 10 also below (they need more than one call)
    assert covered == set(range(1, 11)) and len(CASES) >= 35


# ---- 3. unlabeled text keeps every word
def test_plain_text_keeps_its_first_word(trained, tmp_path, capsys):
    p = tmp_path / "texts.txt"
    p.write_text("just a text\nOkmetic has used the furnaces\nfine\n")
    assert main(["predict", "--model", trained, "-i", str(p)]) == 0
    out = [json.loads(x)["text"] for x in capsys.readouterr().out.splitlines()]
    assert out == ["just a text", "Okmetic has used the furnaces", "fine"]

    from lowdata.data import read

    pool = read(str(p), labeled=False)  # data.unlabeled=pool.txt reads it this way
    assert pool.texts == out


# ---- 4. --allow-config-change continues, and records what changed
def test_resume_with_changed_config_when_asked(tiny_model, toy_files, tmp_path, capsys, monkeypatch):
    from lowdata import loop

    env = Env(tmp_path, tiny_model, toy_files)
    _unfinished_run(env)
    make, peaks = loop.optimizer, []

    def recording(*a):  # each step's base rate, read back from the rate it uses and the schedule's factor
        opt = make(*a)
        opt.register_step_pre_hook(lambda o, *_: peaks.append(o.param_groups[0].get("initial_lr")))
        return opt

    monkeypatch.setattr(loop, "optimizer", recording)
    assert main(env.train("--resume", "train.lr=0.01", "--allow-config-change")) == 0, capsys.readouterr().err
    assert peaks and set(peaks) == {0.01}  # the saved optimizer state had kept 0.005 for the resumed steps
    changes = json.loads((tmp_path / "run" / "config_changes.json").read_text())
    assert changes == [{"key": "train.lr", "before": 0.005, "after": 0.01}]
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["train"]["lr"] == 0.01


def test_a_diverging_run_stops_with_the_step_and_the_rate(tiny_model, toy_files, tmp_path, capsys):
    env = Env(tmp_path, tiny_model, toy_files)
    assert main(env.train("train.lr=1e9", "train.epochs=5")) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "the training loss is nan at step" in err and "lower train.lr (now 1e+09)" in err, err


# ---- 6. label names are data
@pytest.mark.parametrize("names", [("accuracy", "macro avg"), ("pos\x00", "neg|x")])
def test_any_label_name_survives_reporting(names, tiny_model, tmp_path, capsys):
    import random

    rng = random.Random(0)
    a, b = names
    rows = [{"text": f"{rng.choice(['good', 'great'] if y == a else ['bad', 'awful'])} movie", "label": y}
            for y in rng.choices([a, b], k=30)]
    for split in ("train", "dev", "test"):
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = tiny_cfg(tiny_model, tmp_path, tmp_path / "run", ext="jsonl", epochs=1)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(to_dict(cfg)))
    assert main(["train", "-c", str(tmp_path / "c.yaml")]) == 0, capsys.readouterr().err
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert sorted(m["test"]["per_class"]) == sorted(names)
    assert m["test"]["per_class"][a]["support"] == sum(r["label"] == a for r in rows)
    assert (tmp_path / "run" / "confusion_test.png").exists()


# ---- 7. a failed start does not block the corrected command
@pytest.mark.parametrize("bad", ["model.name=/nope/model", "train.batch_size=0", "data.train=/nope.tsv",
                                 "model.pooling=max"])
def test_failed_start_does_not_block_its_rerun(bad, tiny_model, toy_files, tmp_path, capsys):
    env = Env(tmp_path, tiny_model, toy_files)
    assert main(env.train(bad)) == 2
    assert not os.path.exists(tmp_path / "run")
    assert main(env.train()) == 0, capsys.readouterr().err


# ---- 10. one process per output_dir
def test_two_runs_on_one_output_dir(tiny_model, toy_files, tmp_path, capsys):
    env = Env(tmp_path, tiny_model, toy_files)
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", f"from lowdata import runs; import time; runs.lock({str(out)!r}); "
                               f"print('locked', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert main(env.train()) == 2
        assert "another lowdata process is using this output_dir" in capsys.readouterr().err
        assert not (out / "config.yaml").exists()
    finally:
        holder.kill()  # as kill -9 would: the kernel releases the lock
        holder.wait()
    time.sleep(0.1)
    assert main(env.train()) == 0, capsys.readouterr().err


def test_lock_is_exclusive_within_one_process(tmp_path):
    from lowdata import runs
    from lowdata.errors import RunError

    with runs.start(str(tmp_path / "o")):
        with pytest.raises(RunError, match="another lowdata process"):
            runs.start(str(tmp_path / "o"))
    runs.start(str(tmp_path / "o")).close()  # released at the end of the block


# ---- 9. truncation is said, and NER words past max_length are predicted
def test_truncation_warns_with_the_count(tiny_model):
    from transformers import AutoTokenizer

    from lowdata.batching import encode
    from lowdata.data import TextData, TokenData
    from lowdata.errors import LowdataWarning

    import lowdata.batching

    lowdata.batching._WARNED.clear()  # each message is said once per process
    tok = AutoTokenizer.from_pretrained(tiny_model)
    with pytest.warns(LowdataWarning, match=r"2 of 3 texts of x.tsv are longer than max_length=16"):
        encode(TextData(["good movie " * 20, "bad", "fine film " * 30], source="x.tsv"), tok, None, 16)
    with pytest.warns(LowdataWarning, match=r"1 of 2 sentences .* whole-word windows"):
        encode(TokenData([["john", "lives"] * 20, ["a"]]), tok, None, 16)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        encode(TextData(["good movie", "bad"]), tok, None, 16)  # nothing cut: no warning
        encode(TextData(["good movie " * 20, "bad", "fine film " * 30], source="x.tsv"), tok, None, 16)  # said once


def test_ner_windows_predict_every_word(tiny_model):
    import torch
    from transformers import AutoTokenizer

    import lowdata.batching
    from lowdata.backbone import TaskModel, load_encoder
    from lowdata.batching import encode, encode_windows, predict_logits, stitch
    from lowdata.data import LabelMap, TokenData
    from lowdata.errors import LowdataWarning
    from lowdata.evaluate.report import evaluate_split

    tok = AutoTokenizer.from_pretrained(tiny_model)
    words = [w for _ in range(15) for w in ("john", "lives", "in", "paris")]  # 60 words, far past 16 tokens
    data = TokenData([words, ["mary"]], [["B-PER", "O", "O", "B-LOC"] * 15, ["B-PER"]])
    lowdata.batching._WARNED.clear()
    with pytest.warns(LowdataWarning, match=r"1 of 2 sentences are longer .* predicted in whole-word windows"):
        windows, spans = encode_windows(data, tok, None, 16)
    assert [b for sp in spans for _, _, b in sp][-2] == 60 and all(-1 not in w["word_ids"] for w in windows)
    assert all(len(w["input_ids"]) <= 16 for w in windows) and len(spans[0]) > 1
    torch.manual_seed(0)
    enc, _ = load_encoder(tiny_model)
    model = TaskModel(enc, 3, "ner").eval()
    rows = stitch(predict_logits(model, windows, tok.pad_token_id), spans)
    assert [r.shape[0] for r in rows] == [60, 1]
    plain = predict_logits(model, encode(data, tok, None, 16, warn=False), tok.pad_token_id)
    cut = (plain[0].abs().sum(-1) == 0).sum().item()
    assert cut > 40 and (rows[0].abs().sum(-1) == 0).sum().item() == 0  # every word scored, none zero-filled
    labels = LabelMap(["O", "B-LOC", "B-PER"])
    rep, recs = evaluate_split(model, tok, data, labels, 16)
    assert len(recs[0]["pred"]) == 60 and rep["n"] == 2
    first = stitch(predict_logits(model, windows[:len(spans[0])], tok.pad_token_id), [spans[0]])[0]
    assert recs[0]["pred"] == [labels.names[i] for i in first.argmax(-1).tolist()]


@pytest.mark.parametrize("name,text,expect", [
    # JSON nested past Python's recursion limit: a RecursionError escaped the readers (a traceback, exit 1)
    ("deep.jsonl", '{"text": ' + "[" * 5000 + "]" * 5000 + ', "label": "x"}\n',
     ["deep.jsonl, line 1", "nested too deeply"]),
    ("deep_array.json", "[" * 5000 + "]" * 5000, ["deep_array.json, line 1", "nested too deeply"]),
    # `text,text,label`: the first 'text' column was taken silently
    ("dup.csv", "text,text,label\na,b,pos\nc,d,neg\n", ["dup.csv, line 1", "'text' appears 2 times in the header"]),
])
def test_refused_with_file_and_line(name, text, expect, tiny_model, toy_files, tmp_path, capsys):
    env = Env(tmp_path, tiny_model, toy_files)
    before = snapshot(tmp_path)
    assert main(_train_on(name, text)(env)) == 2
    err = capsys.readouterr().err
    assert all(s in err for s in expect), err
    assert "Traceback" not in err
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k != name} == before and not os.path.exists(tmp_path / "run")


def test_rows_written_only_in_a_format_the_extension_names(toy_files, tmp_path, capsys):
    """augment fell back to TSV for any other extension (`-o out.xlsx` held TSV; `--task ner -o x.jsonl` CoNLL)."""
    src = str(toy_files / "train.tsv")
    for out, task, expect in ((tmp_path / "a.xlsx", "classify", "'.xlsx' for classify data"),
                              (tmp_path / "a.jsonl", "ner", "'.jsonl' for ner data (expected .conll")):
        assert main(["augment", "-i", src, "-o", str(out), "--aug", "eda", "--task", task]) == 2
        assert expect in capsys.readouterr().err and not out.exists()


def test_a_bad_tag_in_a_tsv_names_its_line(toy_files, tmp_path, capsys):
    """Reading a classification TSV as NER named the bad tag but not the file or line."""
    src = str(toy_files / "train.tsv")
    assert main(["augment", "-i", src, "-o", str(tmp_path / "a.conll"), "--aug", "eda", "--task", "ner"]) == 2
    assert "train.tsv, line 1: bad tag" in capsys.readouterr().err


@pytest.mark.parametrize("side", ["{not json", "[1, 2]", '{"ids": ["1"]}', "[" * 5000 + "]" * 5000])
def test_a_damaged_selection_record_is_named(side, tmp_path, capsys):
    """merge read select's record beside the batch with json.load and indexing: a traceback when it was damaged."""
    (tmp_path / "b.csv").write_text("id,text,label\n1,a,pos\n")
    (tmp_path / "b.csv.lowdata.json").write_text(side)
    assert main(["merge", "--annotated", str(tmp_path / "b.csv"), "-o", str(tmp_path / "m.tsv")]) == 2
    err = capsys.readouterr().err
    assert "b.csv.lowdata.json" in err and "not a selection record" in err and not (tmp_path / "m.tsv").exists()


@pytest.mark.parametrize("name", ["/nope/gpt", "someone/not-a-model"])
def test_synth_with_a_generator_that_cannot_load(name, toy_files, tmp_path, capsys):
    """--generate with a missing folder or an offline hub name: an OSError traceback from transformers before."""
    out = tmp_path / "s.tsv"
    assert main(["synth", "-i", str(toy_files / "train.tsv"), "-o", str(out), "--generate", name]) == 2
    err = capsys.readouterr().err
    assert f"'{name}'" in err and "Traceback" not in err and not out.exists()
