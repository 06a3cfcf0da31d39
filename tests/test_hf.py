"""Hugging Face-native model folders: pipeline() / AutoModelFor... give lowdata's predictions, through the registered
class and through trust_remote_code (modeling_lowdata.py), for classifiers and taggers; the model card."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from lowdata.backbone import TaskModel, load_encoder
from lowdata.batching import predict_probs
from lowdata.errors import ModelError

from .conftest import save_random_model

TEXTS = ["the movie was good", "bad", "a fine film , not bad at all", "worse than the first one", "é ü 字 ok"]


def _saved(tiny_model, tmp_path, task="classify", pooling="mean", normalize=False):
    return save_random_model(tiny_model, tmp_path / "m", task, seed=1, pooling=pooling, normalize=normalize)


@pytest.mark.parametrize("pooling,normalize", [("mean", False), ("cls", False), ("mean", True)])
def test_classifier_pipeline_equals_lowdata(tiny_model, tmp_path, pooling, normalize):
    from transformers import AutoModelForSequenceClassification, pipeline

    path, _, _ = _saved(tiny_model, tmp_path, pooling=pooling, normalize=normalize)
    files = set(os.listdir(path))
    assert {"config.json", "model.safetensors", "modeling_lowdata.py", "lowdata.json"} <= files
    assert "head.safetensors" not in files
    cfg = json.loads(open(os.path.join(path, "config.json")).read())
    assert cfg["model_type"] == "lowdata" and cfg["auto_map"]["AutoModelForSequenceClassification"]
    model, tok, meta = TaskModel.load(path)
    ours = predict_probs(model, tok, TEXTS, meta["max_length"])
    pipe = pipeline("text-classification", model=path, top_k=None)
    names = meta["labels"]
    theirs = np.array([[{d["label"]: d["score"] for d in row}[n] for n in names] for row in pipe(TEXTS)])
    assert np.abs(ours - theirs).max() < 1e-5
    assert ours.std(0).max() > 1e-3  # outputs differ per text by far more than the tolerance
    auto = AutoModelForSequenceClassification.from_pretrained(path).eval()
    b = tok(TEXTS, padding=True, truncation=True, max_length=32, return_tensors="pt")
    with torch.no_grad():
        p = torch.softmax(auto(**b).logits, -1).numpy()
    assert np.abs(ours - p).max() < 1e-5


def test_remote_code_path_without_lowdata(tiny_model, tmp_path):
    """A fresh interpreter that never imports lowdata: trust_remote_code=True runs the folder's modeling_lowdata.py
    and gives lowdata's probabilities; without it, transformers refuses (no silent fallback to another class)."""
    path, _, _ = _saved(tiny_model, tmp_path)
    model, tok, meta = TaskModel.load(path)
    ours = predict_probs(model, tok, TEXTS, meta["max_length"])
    code = (
        "import json, sys\n"
        "from transformers import pipeline\n"
        "try:\n"
        f"    pipeline('text-classification', model={path!r})\n"
        "    print('LOADED WITHOUT TRUST')\n"
        "except ValueError as e:\n"
        "    print('refused:', 'trust_remote_code' in str(e))\n"
        f"p = pipeline('text-classification', model={path!r}, trust_remote_code=True, top_k=None)\n"
        f"print(json.dumps(p({TEXTS!r})))\n"
        "assert 'lowdata' not in sys.modules and not any(m.startswith('lowdata.') for m in sys.modules)\n")
    env = {**os.environ, "PYTHONPATH": ""}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=str(tmp_path),
                       stdin=subprocess.DEVNULL, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.strip().splitlines()
    assert any(ln.endswith("refused: True") for ln in lines)  # after transformers' own prompt text
    rows = json.loads(lines[-1])
    theirs = np.array([[{d["label"]: d["score"] for d in row}[n] for n in meta["labels"]] for row in rows])
    assert np.abs(ours - theirs).max() < 1e-5


def test_tagger_is_the_encoders_own_token_classification_class(tiny_model, tmp_path):
    from transformers import AutoModelForTokenClassification, pipeline

    path, m, tok = _saved(tiny_model, tmp_path, task="ner")
    cfg = json.loads(open(os.path.join(path, "config.json")).read())
    assert cfg["architectures"] == ["BertForTokenClassification"] and "auto_map" not in cfg
    assert not os.path.exists(os.path.join(path, "modeling_lowdata.py"))
    loaded, tok2, meta = TaskModel.load(path)
    hf = AutoModelForTokenClassification.from_pretrained(path).eval()
    b = tok(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        a = torch.softmax(loaded.eval()(b["input_ids"], b["attention_mask"]), -1)
        h = torch.softmax(hf(**b).logits, -1)
        o = torch.softmax(m(b["input_ids"], b["attention_mask"]), -1)
    assert (a - h).abs().max() < 1e-5 and (a - o).abs().max() < 1e-5
    out = pipeline("token-classification", model=path)(TEXTS[0])
    ids = tok(TEXTS[0])["input_ids"]
    for ent in out:  # every token the pipeline reports carries our probability for our argmax label
        row = a[0, ent["index"]]
        assert meta["labels"][int(row.argmax())] == ent["entity"] and abs(float(row.max()) - ent["score"]) < 1e-5
    assert len(out) == len(ids) - 2


def test_saved_classifier_folder_gives_its_encoder(tiny_model, tmp_path):
    """model.name can be a trained lowdata classifier: load_encoder returns its fine-tuned encoder."""
    path, m, _ = _saved(tiny_model, tmp_path)
    enc, _ = load_encoder(path)
    for (k, v), (k2, v2) in zip(m.encoder.state_dict().items(), enc.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)


def test_old_layout_still_loads(tiny_model, tmp_path):
    """Folders written before the HF-native layout (encoder + head.safetensors) keep loading."""
    from safetensors.torch import save_file

    enc, tok = load_encoder(tiny_model)
    m = TaskModel(enc, 2).eval()
    d = tmp_path / "old"
    enc.save_pretrained(d)
    tok.save_pretrained(d)
    save_file({k: v.contiguous() for k, v in m.head.state_dict().items()}, str(d / "head.safetensors"))
    (d / "lowdata.json").write_text(json.dumps({"task": "classify", "labels": ["a", "b"], "pooling": "mean",
                                                "max_length": 32}))
    loaded, tok2, _ = TaskModel.load(str(d))
    assert np.allclose(predict_probs(loaded, tok2, TEXTS, 32), predict_probs(m, tok, TEXTS, 32), atol=1e-6)


def test_head_label_mismatch_is_refused(tiny_model, tmp_path):
    path, _, _ = _saved(tiny_model, tmp_path)
    meta = json.loads(open(os.path.join(path, "lowdata.json")).read())
    meta["labels"] = ["only", "two"]
    open(os.path.join(path, "lowdata.json"), "w").write(json.dumps(meta))
    with pytest.raises(ModelError, match="3 outputs"):
        TaskModel.load(path)


def test_card_intervals():
    from lowdata.evaluate.card import entity_f1_interval, wilson

    lo, hi = wilson(90, 100)  # a textbook value: 0.9 of 100 -> [0.8256, 0.9448]
    assert abs(lo - 0.8256) < 1e-3 and abs(hi - 0.9448) < 1e-3
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == 1.0
    tags = [["B-PER", "O", "B-LOC"]] * 30 + [["B-PER", "O", "O"]] * 30
    perfect = entity_f1_interval(tags, tags)
    assert perfect == (1.0, 1.0)
    half = [["B-PER", "O", "O"]] * 60
    lo, hi = entity_f1_interval(tags, half)
    f1 = 2 * 60 / (60 + 90)
    assert lo < f1 < hi and hi - lo < 0.2


@pytest.mark.slow
@pytest.mark.parametrize("alias", ["minilm", "e5-small", "mpnet"])
def test_real_backbones_pipeline_equals_lowdata(alias, tmp_path):
    """Every backbone lowdata supports: classifier via pipeline() and tagger via AutoModelForTokenClassification give
    lowdata's probabilities (the e5 "query: " prefix comes from the saved tokenizer, mpnet's unused pooler is
    dropped)."""
    from transformers import AutoModelForTokenClassification, pipeline

    from .test_backbones import _installed

    if alias != "minilm" and not _installed(alias):
        pytest.skip(f"{alias} not installed (make backbones)")
    enc, tok = load_encoder(alias)
    m = TaskModel(enc, 3).eval()
    torch.manual_seed(0)
    m.head.weight.data.normal_(0, 1.0)
    m.save(str(tmp_path / "c"), tok, ["a", "b", "c"], 64)
    loaded, tok2, meta = TaskModel.load(str(tmp_path / "c"))
    ours = predict_probs(loaded, tok2, TEXTS, 64)
    assert np.abs(ours - predict_probs(m, tok, TEXTS, 64)).max() < 1e-5
    rows = pipeline("text-classification", model=str(tmp_path / "c"), top_k=None)(TEXTS)
    theirs = np.array([[{d["label"]: d["score"] for d in row}[n] for n in "abc"] for row in rows])
    assert np.abs(ours - theirs).max() < 1e-5
    t = TaskModel(loaded.encoder, 3, "ner").eval()
    t.save(str(tmp_path / "t"), tok, ["O", "B-X", "I-X"], 64)
    hf = AutoModelForTokenClassification.from_pretrained(str(tmp_path / "t")).eval()
    b = tok(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        diff = (torch.softmax(t(b["input_ids"], b["attention_mask"]), -1) - torch.softmax(hf(**b).logits, -1))
    assert diff.abs().max() < 1e-5
