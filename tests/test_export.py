"""lowdata export (ONNX, int8) checked against PyTorch; predict on onnxruntime; streamed batch prediction."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from lowdata.backbone import TaskModel, load_encoder
from lowdata.errors import ConfigError, ModelError, RunExistsError

from .conftest import save_random_model

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "lowdata.cli", *args], capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def models(tiny_model, tmp_path_factory):
    d = tmp_path_factory.mktemp("export")
    save_random_model(tiny_model, d / "clf")
    save_random_model(tiny_model, d / "tag", "ner", ["O", "B-X", "I-X"], 16)
    texts = [f"the movie {'good ' * (i % 6)}number {i} {'bad' if i % 3 else 'fine'}" for i in range(3000)]
    (d / "in.txt").write_text("\n".join(texts) + "\n")
    return d


def test_export_classifier_fp32_and_int8(models, tmp_path):
    from lowdata.export import export

    out = str(tmp_path / "onnx")
    rec = export(str(models / "clf"), out, quantize="int8")
    fp32, int8 = rec["graphs"]["model.onnx"], rec["graphs"]["model.int8.onnx"]
    assert fp32["max_abs_diff"] < 1e-5 and fp32["argmax_agreement"] == 1.0 and fp32["compared"] >= 8
    assert int8["max_abs_diff"] < 0.1 and int8["bytes"] < fp32["bytes"]
    assert json.loads(open(os.path.join(out, "export.json")).read()) == rec
    import onnx

    # the graph's last node is the head as one Gemm (int8 quantizes it), not the eval-mode batch-invariant product
    assert onnx.load(os.path.join(out, "model.onnx")).graph.node[-1].op_type == "Gemm"
    with pytest.raises(RunExistsError):
        export(str(models / "clf"), out)
    with pytest.raises(ConfigError):
        export(str(models / "clf"), str(models / "clf"), overwrite=True)
    with pytest.raises(ConfigError):
        export(str(models / "clf"), str(tmp_path / "x"), quantize="int4")


def test_onnx_predict_equals_pytorch_predict_and_streams(models, tmp_path):
    out = tmp_path / "onnx"
    r = _cli("export", "--model", str(models / "clf"), "-o", str(out))
    assert r.returncode == 0 and "argmax agreement 1.0000" in r.stdout, r.stderr[-2000:]
    r1 = _cli("predict", "--model", str(models / "clf"), "-i", str(models / "in.txt"), "-o", str(tmp_path / "a.jsonl"),
              "--chunk", "256")
    r2 = _cli("predict", "--model", str(out), "-i", str(models / "in.txt"), "-o", str(tmp_path / "b.jsonl"))
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr[-1000:] + r2.stderr[-1000:]
    a = [json.loads(x) for x in open(tmp_path / "a.jsonl")]
    b = [json.loads(x) for x in open(tmp_path / "b.jsonl")]
    texts = (models / "in.txt").read_text().splitlines()
    assert [x["text"] for x in a] == texts == [x["text"] for x in b]  # input order, whatever the chunking
    assert all(x["pred"] == y["pred"] and abs(x["confidence"] - y["confidence"]) < 1e-5 for x, y in zip(a, b))
    r3 = _cli("predict", "--model", str(out), "--int8", "-i", str(models / "in.txt"))
    assert r3.returncode == 2 and "model.int8.onnx" in r3.stderr  # not exported: a one-line error


def test_export_tagger(models, tmp_path):
    from lowdata.export import export
    from lowdata.predict import load_predictor, predict_stream, stream_file

    rec = export(str(models / "tag"), str(tmp_path / "t"), check=str(models / "in.txt"))
    g = rec["graphs"]["model.onnx"]
    assert g["max_abs_diff"] < 1e-5 and g["compared"] > 1000  # words, windows past max_length 16 included
    m1, t1, meta = load_predictor(str(models / "tag"))
    m2, t2, _ = load_predictor(str(tmp_path / "t"))
    a = list(predict_stream(m1, t1, meta, stream_file(str(models / "in.txt"), "ner", chunk=500, progress=False)))
    b = list(predict_stream(m2, t2, meta, stream_file(str(models / "in.txt"), "ner", chunk=7, progress=False)))
    assert a == b and len(a) == 3000


def test_stream_file_reads_chunk_by_chunk_and_names_bad_lines(tmp_path):
    from lowdata.data import DataError
    from lowdata.predict import stream_file

    p = tmp_path / "big.jsonl"
    rows = [json.dumps({"text": f"t{i}"}) for i in range(2500)]
    rows[1202] = "{broken"
    p.write_text("\n".join(rows) + "\n")
    it = stream_file(str(p), "classify", chunk=1000, progress=False)
    first = next(it)
    assert len(first.texts) == 1000 and first.texts[0] == "t0"  # the rest of the file is not read yet
    with pytest.raises(DataError, match="line 1203"):
        next(it)
    q = tmp_path / "blank.txt"
    q.write_text("a\n\n  \nb\n")
    assert [d.texts for d in stream_file(str(q), "classify", progress=False)] == [["a", "b"]]
    with pytest.raises(DataError, match="empty"):
        list(stream_file(str(tmp_path / "empty.txt") if (tmp_path / "empty.txt").write_text("") == 0 else "",
                         "classify"))


def test_bad_onnx_file_is_refused(models, tmp_path):
    from lowdata.export import export, load_onnx

    out = tmp_path / "o"
    export(str(models / "clf"), str(out))
    (out / "model.onnx").write_bytes(b"not a graph")
    with pytest.raises(ModelError, match="not an ONNX model"):
        load_onnx(str(out))
    with pytest.raises(ModelError, match="no model.onnx"):
        from lowdata.predict import load_predictor

        load_predictor(str(models / "clf"), onnx=True)


@pytest.mark.slow
def test_export_real_minilm(tmp_path):
    from lowdata.export import export

    enc, tok = load_encoder("minilm")
    m = TaskModel(enc, 2)
    torch.manual_seed(0)
    m.head.weight.data.normal_(0, 1.0)
    m.save(str(tmp_path / "m"), tok, ["neg", "pos"], 64)
    rec = export(str(tmp_path / "m"), str(tmp_path / "o"), quantize="int8")
    assert rec["graphs"]["model.onnx"]["max_abs_diff"] < 1e-4
    assert rec["graphs"]["model.int8.onnx"]["argmax_agreement"] >= 0.75
    assert np.isfinite(rec["graphs"]["model.int8.onnx"]["max_abs_diff"])


def test_ray_path_matches_local(models, tmp_path):
    """--engine ray on a local Ray: the same records, in input order, as the local path."""
    pytest.importorskip("ray")
    import glob

    small = tmp_path / "in.txt"
    small.write_text("\n".join((models / "in.txt").read_text().splitlines()[:300]) + "\n\n")
    r = _cli("predict", "--model", str(models / "clf"), "-i", str(small), "--engine", "ray", "-o",
             str(tmp_path / "shards"), "--chunk", "64", "--no-progress", timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    got = [json.loads(x) for f in sorted(glob.glob(str(tmp_path / "shards" / "*.json"))) for x in open(f)]
    loc = _cli("predict", "--model", str(models / "clf"), "-i", str(small), "--no-progress")
    want = [json.loads(x) for x in loc.stdout.splitlines()]
    assert len(got) == len(want) == 300
    assert [g["text"] for g in got] == [w["text"] for w in want]
    # Ray chooses its own batches; a text's logits do not depend on its batch (batching.padded_batches and the
    # batch-invariant eval head of TaskModel), so the records are equal to the last digit (before that, a text padded
    # in another batch moved ~1e-8 and could flip the 6th decimal of its confidence)
    assert got == want
    again = _cli("predict", "--model", str(models / "clf"), "-i", str(small), "--engine", "ray", "-o",
                 str(tmp_path / "shards"))
    assert again.returncode == 2 and "exists" in again.stderr  # never over an earlier output
