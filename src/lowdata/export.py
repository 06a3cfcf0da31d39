"""ONNX export of a lowdata model folder, checked against PyTorch, and onnxruntime inference.

    lowdata export --model runs/sst2/model --format onnx --quantize int8 -o runs/sst2/onnx
    lowdata predict --model runs/sst2/onnx -i texts.txt        # a folder with model.onnx runs on onnxruntime

The graph takes input_ids and attention_mask (int64, dynamic batch and length) and returns the head's logits:
(B, C) for a classifier (pooling and normalisation inside the graph), (B, T, C) for a tagger. torch.onnx's
exporter (torch.export, opset 18) writes it; `--quantize int8` adds onnxruntime's dynamic quantization (int8
weights of MatMul/Gemm, activations quantized per batch at run time). The output folder holds model.onnx (and
model.int8.onnx), the tokenizer, lowdata.json and export.json: the check of each graph against PyTorch on real
texts (max abs difference in probabilities, argmax agreement), file sizes and the versions used.
"""
from __future__ import annotations

import json
import os
import shutil

import numpy as np

from .errors import ConfigError, ModelError, RunExistsError

# varied lengths and scripts, for a check when the run left no texts behind
SAMPLE = ["a gripping, funny film", "The service was slow and the food arrived cold.", "ok",
          "I would like to transfer money to my savings account before Friday, is that possible?",
          "这部电影很好看", "Die Lieferung kam zu spät.", "terrible. just terrible. never again!!!",
          " ".join(["long"] * 300)]


def check_texts(model_dir: str, path: str | None, n: int = 256) -> list[str]:
    """Texts for the check: --check FILE (one per line), else the run's own predictions.jsonl, else SAMPLE."""
    if path:
        with open(path, encoding="utf-8") as f:
            texts = [ln.rstrip("\n") for ln in f if ln.strip()][:n]
        if not texts:
            raise ConfigError(f"{path}: no texts (expected one text per line)")
        return texts
    preds = os.path.join(os.path.dirname(os.path.abspath(model_dir)), "predictions.jsonl")
    if os.path.exists(preds):
        with open(preds, encoding="utf-8") as f:
            recs = [json.loads(ln) for ln, _ in zip(f, range(n))]
        texts = [r["text"] if "text" in r else " ".join(r.get("tokens", [])) for r in recs]
        texts = [t for t in texts if t.strip()]
        if texts:
            return texts
    return list(SAMPLE)


def export(model_dir: str, out: str, quantize: str | None = None, check: str | None = None,
           overwrite: bool = False, opset: int = 18) -> dict:
    """Write the ONNX folder `out` (atomically) and return its export.json record."""
    import torch

    from .backbone import TaskModel
    from .runs import replace_dir

    if quantize not in (None, "int8"):
        raise ConfigError(f"--quantize {quantize!r}: expected int8")
    if os.path.exists(out) and not overwrite:
        raise RunExistsError(f"{out}: exists (pass --overwrite to replace it)")
    if os.path.realpath(out) == os.path.realpath(model_dir):
        raise ConfigError(f"{out}: is the model folder itself (choose another -o)")
    try:
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise ConfigError("ONNX export needs onnx, onnxscript and onnxruntime: pip install 'lowdata[onnx]'") from None
    model, tok, meta = TaskModel.load(model_dir)
    model.eval()
    texts = check_texts(model_dir, check)
    record = {"source": os.path.abspath(model_dir), "task": meta["task"], "opset": opset,
              "torch": torch.__version__, "onnxruntime": __import__("onnxruntime").__version__, "graphs": {}}

    def write(d):
        import logging
        import warnings

        logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed" and the like
        b = tok(["a b c", "d"], padding=True, return_tensors="pt")
        batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq")
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's notes on axis names and deprecations
            prog = torch.onnx.export(model, (b["input_ids"], b["attention_mask"]), dynamo=True, opset_version=opset,
                                     input_names=["input_ids", "attention_mask"], output_names=["logits"],
                                     dynamic_shapes=({0: batch, 1: seq}, {0: batch, 1: seq}), verbose=False)
        prog.save(os.path.join(d, "model.onnx"))
        graphs = {"model.onnx": "fp32"}
        if quantize == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            root = logging.getLogger()
            level, root.level = root.level, logging.ERROR  # its advice to pre-process (shape inference) first
            try:
                quantize_dynamic(os.path.join(d, "model.onnx"), os.path.join(d, "model.int8.onnx"),
                                 weight_type=QuantType.QInt8)
            finally:
                root.setLevel(level)
            graphs["model.int8.onnx"] = "int8"
        tok.save_pretrained(d)
        shutil.copyfile(os.path.join(model_dir, "lowdata.json"), os.path.join(d, "lowdata.json"))
        for name, kind in graphs.items():
            record["graphs"][name] = {"precision": kind, "bytes": os.path.getsize(os.path.join(d, name)),
                                      **compare(model, OnnxModel(os.path.join(d, name)), tok, meta, texts)}
        record["check_texts"] = len(texts)
        with open(os.path.join(d, "export.json"), "w", encoding="utf-8") as f:
            json.dump(record, f, indent=2)

    replace_dir(out, write)
    return record


def compare(torch_model, onnx_model, tok, meta, texts: list[str]) -> dict:
    """Max abs difference of class probabilities and argmax agreement, PyTorch vs onnxruntime, on `texts`
    (classification: per text; NER: per word of the whitespace-split texts)."""
    import torch

    from .batching import encode, encode_windows, predict_logits, stitch
    from .data import TextData, TokenData

    if meta["task"] == "classify":
        enc = encode(TextData(texts), tok, None, meta["max_length"], warn=False)
        a, b = (torch.softmax(predict_logits(m, enc, tok.pad_token_id, 32, max_length=meta["max_length"]), -1)
                for m in (torch_model, onnx_model))
    else:
        windows, spans = encode_windows(TokenData([t.split() for t in texts]), tok, None, meta["max_length"])

        def word_probs(m):
            rows = stitch(predict_logits(m, windows, tok.pad_token_id, 32, max_length=meta["max_length"]), spans)
            return torch.cat([torch.softmax(x, -1) for x in rows])
        a, b = word_probs(torch_model), word_probs(onnx_model)
    return {"max_abs_diff": float((a - b).abs().max()), "argmax_agreement": float((a.argmax(-1) ==
                                                                                  b.argmax(-1)).float().mean()),
            "compared": int(a.shape[0])}


class OnnxModel:
    """An onnxruntime session that lowdata's batching calls like a TaskModel: model(input_ids, attention_mask)
    -> logits (a torch tensor). Threads: onnxruntime's default (one per core)."""

    def __init__(self, path: str, threads: int = 0):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for a bad file
            raise ModelError(f"{path}: not an ONNX model onnxruntime can load ({str(e)[:200]})") from None

    def eval(self):
        return self

    def __call__(self, input_ids, attention_mask, **_):
        import torch

        out = self.session.run(["logits"], {"input_ids": np.ascontiguousarray(input_ids.cpu().numpy(), np.int64),
                                            "attention_mask": np.ascontiguousarray(attention_mask.cpu().numpy(),
                                                                                   np.int64)})[0]
        return torch.from_numpy(out)


def is_onnx_dir(path: str) -> bool:
    return os.path.isdir(path) and os.path.exists(os.path.join(path, "model.onnx"))


def load_onnx(path: str, int8: bool = False):
    """-> (OnnxModel, tokenizer, meta) from a folder written by `export`."""
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # encode() measures uncut lengths past model_max_length on purpose
    name = "model.int8.onnx" if int8 else "model.onnx"
    if not os.path.exists(os.path.join(path, name)):
        raise ModelError(f"{path}: no {name} (write it with lowdata export --format onnx"
                         f"{' --quantize int8' if int8 else ''})")
    meta_path = os.path.join(path, "lowdata.json")
    try:
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ModelError(f"{meta_path}: cannot read it ({e})") from None
    tok = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    return OnnxModel(os.path.join(path, name)), tok, meta
