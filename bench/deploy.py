"""Putting a model to work (issue 24): HF-native parity, ONNX fp32/int8 vs PyTorch, batch-prediction throughput.

    python bench/deploy.py                       # all stages; --stages parity onnx throughput; resumable per stage
    python bench/deploy.py --stages parity --backbones minilm e5-small mpnet --n 1000

parity:     per backbone, a real classifier (frozen-encoder logistic regression on SST-2, 32 labels, written by
            `lowdata train` as an HF-native folder) and a tagger (the encoder + an untrained linear head over the
            CoNLL-2003 tag set: the check is of the computation, not of NER quality) -> transformers.pipeline /
            AutoModelFor... probabilities vs lowdata's on n real texts (SST-2 test sentences, CoNLL-2003 test
            sentences): max abs difference, argmax agreement.
onnx:       MiniLM AG News classifier (frozen LR, 40 labels): lowdata export fp32 and int8 vs PyTorch on 1,000 AG News
            test texts: max abs diff, argmax agreement, test accuracy, texts/s at batch 1 and 32, file size.
memory:     peak RSS of `lowdata predict` (tiny random BERT) over 10k, 100k and 400k-line files: flat = bounded.
throughput: the same model on the first 10,000 AG News pool texts: lowdata predict (PyTorch, ONNX fp32, ONNX int8;
            streamed, length-sorted chunks) vs transformers.pipeline (batch_size 1, its default, and 64), same
            max_length (64), same threads. Baseline: the pipeline at batch_size 64 (the faster of its two).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import DATA, RESULTS, ROOT, load_results, machine, save_results  # noqa: E402

OUT = RESULTS / "deploy.json"
RUNS = ROOT / "runs" / "bench-deploy"


def frozen_model(backbone: str, data: str, k: int, max_length: int) -> str:
    """lowdata train: frozen LR with its model/ folder; -> the model folder (reused when already trained)."""
    from lowdata.config import Config, DataConfig, FrozenConfig, ModelConfig, SSLConfig, TrainConfig
    from lowdata.methods import train

    out = RUNS / f"{data}-{backbone}"
    if (out / "model" / "lowdata.json").exists():
        return str(out / "model")
    files = {"sst2": dict(train=str(DATA / "sst2/stsa.binary.train"), format="label_text"),
             "agnews": dict(train=str(DATA / "agnews/dev.tsv"), format="tsv")}[data]
    cfg = Config(data=DataConfig(**files, task="classify", k_per_class=k, sample_seed=0),
                 model=ModelConfig(name=backbone, max_length=max_length), train=TrainConfig(progress=False,
                                                                                            report_to=[]),
                 ssl=SSLConfig(method="frozen_lr"), frozen=FrozenConfig(save_model=True), output_dir=str(out))
    train(cfg, overwrite=True)
    return str(out / "model")


def texts_of(path: str, fmt: str, n: int) -> list[str]:
    from lowdata.data import read

    return read(path, format=fmt, task="classify").texts[:n]


def parity(backbones, n: int) -> dict:
    import torch
    from transformers import AutoModelForTokenClassification, pipeline

    from lowdata.backbone import TaskModel
    from lowdata.batching import predict_probs
    from lowdata.data import read

    sst = texts_of(str(DATA / "sst2/stsa.binary.test"), "label_text", n)
    conll = read(str(DATA / "conll2003/test.txt"), format="conll", task="ner").tokens[:n]
    res = {}
    for bb in backbones:
        t0 = time.time()
        path = frozen_model(bb, "sst2", 16, 64)
        model, tok, meta = TaskModel.load(path)
        ours = predict_probs(model, tok, sst, 64, 32)
        rows = pipeline("text-classification", model=path, top_k=None, truncation=True)(sst, batch_size=32)
        theirs = np.array([[{d["label"]: d["score"] for d in r}[x] for x in meta["labels"]] for r in rows])
        clf = {"texts": len(sst), "max_abs_diff": float(np.abs(ours - theirs).max()),
               "argmax_agreement": float((ours.argmax(1) == theirs.argmax(1)).mean())}
        tdir = RUNS / f"tagger-{bb}"
        tags = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
        torch.manual_seed(0)
        TaskModel(model.encoder, len(tags), "ner").save(str(tdir), tok, tags, 128)
        tagger, _, _ = TaskModel.load(str(tdir))
        hf = AutoModelForTokenClassification.from_pretrained(str(tdir)).eval()
        tagger.eval()
        diff, agree, count = 0.0, 0, 0
        with torch.no_grad():
            for s in range(0, len(conll), 32):
                b = tok(conll[s: s + 32], is_split_into_words=True, truncation=True, max_length=128, padding=True,
                        return_tensors="pt")
                a = torch.softmax(tagger(b["input_ids"], b["attention_mask"]), -1)
                h = torch.softmax(hf(**b).logits, -1)
                m = b["attention_mask"].bool()
                diff = max(diff, float((a - h).abs()[m].max()))
                agree += int((a.argmax(-1) == h.argmax(-1))[m].sum())
                count += int(m.sum())
        res[bb] = {"classifier": clf, "tagger": {"sentences": len(conll), "tokens": count, "max_abs_diff": diff,
                                                 "argmax_agreement": agree / count},
                   "seconds": time.time() - t0}
        print(bb, res[bb], flush=True)
    return res


def _rate(fn, texts, reps=1) -> float:
    t0 = time.time()
    for _ in range(reps):
        fn(texts)
    return len(texts) * reps / (time.time() - t0)


def onnx_stage(n: int) -> dict:
    import torch

    from lowdata.batching import predict_probs
    from lowdata.data import read
    from lowdata.export import export, load_onnx
    from lowdata.backbone import TaskModel

    path = frozen_model("minilm", "agnews", 10, 64)
    test = read(str(DATA / "agnews/test.tsv"), format="tsv", task="classify")
    texts, gold = test.texts[:n], test.labels[:n]
    onnx_dir = str(RUNS / "agnews-minilm-onnx")
    rec = export(path, onnx_dir, quantize="int8", overwrite=True)
    model, tok, meta = TaskModel.load(path)
    res = {"model": path, "texts": len(texts), "export_check": rec["graphs"], "variants": {}}
    base = predict_probs(model, tok, texts, 64, 32)
    for name, m in (("pytorch", model), ("onnx fp32", load_onnx(onnx_dir)[0]), ("onnx int8",
                                                                                 load_onnx(onnx_dir, True)[0])):
        p = predict_probs(m, tok, texts, 64, 32)
        acc = float(np.mean([meta["labels"][i] == g for i, g in zip(p.argmax(1), gold)]))
        one = _rate(lambda t: [predict_probs(m, tok, [x], 64, 1) for x in t], texts[:300])
        many = _rate(lambda t: predict_probs(m, tok, t, 64, 32), texts)
        size = sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path) if f.endswith(".safetensors")) \
            if name == "pytorch" else os.path.getsize(os.path.join(onnx_dir, "model.onnx" if "fp32" in name
                                                                    else "model.int8.onnx"))
        res["variants"][name] = {"max_abs_diff_vs_pytorch": float(np.abs(p - base).max()),
                                 "argmax_agreement": float((p.argmax(1) == base.argmax(1)).mean()),
                                 "accuracy": acc, "texts_per_s_batch1": one, "texts_per_s_batch32": many,
                                 "bytes": size}
        print(name, res["variants"][name], flush=True)
    res["torch_threads"] = torch.get_num_threads()
    return res


def throughput(n: int) -> dict:
    from transformers import pipeline

    from lowdata.data import TextData
    from lowdata.export import load_onnx
    from lowdata.backbone import TaskModel
    from lowdata.predict import predict_stream

    path = frozen_model("minilm", "agnews", 10, 64)
    onnx_dir = str(RUNS / "agnews-minilm-onnx")
    texts = texts_of(str(DATA / "agnews/dev.tsv"), "tsv", n)
    res = {"texts": len(texts), "max_length": 64, "runs": {}}

    def chunks(t, size=4096):
        for s in range(0, len(t), size):
            yield TextData(t[s: s + size])

    model, tok, meta = TaskModel.load(path)
    variants = [("lowdata predict (PyTorch)", model), ("lowdata predict (ONNX fp32)", load_onnx(onnx_dir)[0]),
                ("lowdata predict (ONNX int8)", load_onnx(onnx_dir, True)[0])]
    for name, m in variants:
        t0 = time.time()
        recs = list(predict_stream(m, tok, meta, chunks(texts), 64))
        res["runs"][name] = {"seconds": time.time() - t0, "texts_per_s": len(recs) / (time.time() - t0)}
        print(name, res["runs"][name], flush=True)
    pipe = pipeline("text-classification", model=path, truncation=True)
    for bs in (64, 1):
        t0 = time.time()
        out = pipe(texts, batch_size=bs)
        res["runs"][f"transformers.pipeline batch_size={bs}"] = {"seconds": time.time() - t0,
                                                                 "texts_per_s": len(out) / (time.time() - t0)}
        print(bs, res["runs"][f"transformers.pipeline batch_size={bs}"], flush=True)
    base = res["runs"]["transformers.pipeline batch_size=64"]["texts_per_s"]
    res["speedup_vs_pipeline_bs64"] = {k: v["texts_per_s"] / base for k, v in res["runs"].items()}
    return res


def memory(sizes) -> dict:
    """Peak RSS of `lowdata predict` over files of growing size (the tiny random BERT, so a million lines take
    minutes: memory is what is measured, and it does not depend on the encoder's size beyond its weights)."""
    import subprocess
    import tempfile

    from lowdata.backbone import TaskModel, load_encoder, make_tiny

    d = tempfile.mkdtemp(prefix="lowdata-mem-")
    enc, tok = load_encoder(make_tiny(os.path.join(d, "enc")))
    TaskModel(enc, 3).save(os.path.join(d, "m"), tok, ["a", "b", "c"], 32)
    words = "the a film movie good bad great awful plot actor scene ending music".split()
    rng = np.random.default_rng(0)
    res = {}
    for n in sizes:
        path = os.path.join(d, f"in-{n}.txt")
        with open(path, "w") as f:
            for _ in range(n):
                f.write(" ".join(rng.choice(words, rng.integers(3, 30))) + "\n")
        code = ("import resource, sys; from lowdata.cli import main; rc = main(sys.argv[1:]); "
                "print('MAXRSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(rc)")
        t0 = time.time()
        r = subprocess.run([sys.executable, "-c", code, "predict", "--model", os.path.join(d, "m"), "-i", path, "-o",
                            os.path.join(d, f"out-{n}.jsonl"), "--no-progress"], capture_output=True, text=True)
        rss = [ln.split()[1] for ln in r.stderr.splitlines() if ln.startswith("MAXRSS")]
        lines = sum(1 for _ in open(os.path.join(d, f"out-{n}.jsonl")))
        res[str(n)] = {"rc": r.returncode, "input_mb": os.path.getsize(path) / 1e6, "output_lines": lines,
                       "peak_rss_mb": int(rss[0]) / 1024 if rss else None, "seconds": time.time() - t0}
        print(n, res[str(n)], flush=True)
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stages", nargs="+", default=["parity", "onnx", "throughput"])
    p.add_argument("--backbones", nargs="+", default=["minilm", "e5-small", "mpnet"])
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--throughput-n", type=int, default=10000)
    a = p.parse_args()
    res = load_results(OUT)
    res["machine"] = machine()
    res["commit"] = os.popen(f"git -C {ROOT} rev-parse --short HEAD").read().strip()
    for st in a.stages:
        if st == "parity":
            res.setdefault("parity", {}).update(parity(a.backbones, a.n))
        elif st == "onnx":
            res["onnx"] = onnx_stage(a.n)
        elif st == "throughput":
            res["throughput"] = throughput(a.throughput_n)
        elif st == "memory":
            res["memory"] = memory([10_000, 100_000, 400_000])
        save_results(OUT, res)
    print(f"written {OUT}")


if __name__ == "__main__":
    main()
