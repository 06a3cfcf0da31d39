"""What pretraining is worth: held-out perplexity before/after, and the downstream effect. Resumable.

    python bench/pretrain_value.py --lang en      # continued MLM of MiniLM on SST-2 train + MR text, then SST-2
                                                  # at 16 labeled per class, 5 seeds, from base vs from adapted
    python bench/pretrain_value.py --lang zh      # a small Chinese BERT from scratch (bert-vocab-zh) on FewCLUE
                                                  # unlabeled + other Chinese training text, then EPRSTMT few-shot
                                                  # (FewCLUE splits 0-4) and Weibo NER: pretrained vs random init
    python bench/pretrain_value.py --lang zh --pretrain-only   # the model alone, for backbones.py / chinese_ner.py

Leakage: corpus texts equal (after removing case, spaces and punctuation) to a sentence of the downstream dev/test
sets are dropped, and the count is printed. MR and SST come from the same Rotten Tomatoes snippets, so this
matters for English: without it the corpus would hold SST-2's test sentences.
Pretraining writes bench/cache/pt-<lang>/ (the run dir; rerun with the same args resumes or reuses it).
Downstream cells are stored in bench/results/pretrain_value-<lang>.json and skipped when done.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, RESULTS, load_results, machine, save_results  # noqa: E402

CACHE = Path(__file__).resolve().parent / "cache"
ROOT = Path(__file__).resolve().parents[1]


def norm(t: str) -> str:
    return re.sub(r"[\W_]+", "", t.lower())


def write_corpus(texts, banned, path: Path) -> dict:
    seen_banned = [t for t in texts if norm(t) in banned]
    keep = [t.replace("\n", " ").strip() for t in texts if norm(t) not in banned and t.strip()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(keep) + "\n", encoding="utf-8")
    return {"texts": len(keep), "dropped_as_eval_leakage": len(seen_banned)}


def en_corpus(path: Path) -> dict:
    from lowdata.data import read

    sst = DATA / "sst2"
    train = read(str(sst / "stsa.binary.train"), format="label_text").texts
    evals = read(str(sst / "stsa.binary.dev"), format="label_text").texts + \
        read(str(sst / "stsa.binary.test"), format="label_text").texts
    mr = [line.split(" ", 1)[1] for line in (DATA / "mr" / "rt-polarity.all").read_text("latin-1").splitlines()
          if " " in line]
    return write_corpus(train + mr, {norm(t) for t in evals}, path)


def jsonl(path: Path, field: str):
    return [json.loads(line)[field] for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def weibo(split: str, out: Path) -> Path:
    """Weibo NER's '2nd_conll' tokens carry a word-position digit ('科0'): keep the character only."""
    src = DATA / "weibo-ner" / f"weiboNER_2nd_conll.{split}"
    lines = []
    for line in src.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2:
            tok = parts[0][:-1] if len(parts[0]) > 1 and parts[0][-1].isdigit() else parts[0]
            lines.append(f"{tok}\t{parts[-1]}")
        else:
            lines.append("")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def weibo_sentences(path: Path) -> list[str]:
    return ["".join(line.split("\t")[0] for line in block.splitlines())
            for block in path.read_text(encoding="utf-8").split("\n\n") if block.strip()]


def zh_corpus(path: Path) -> dict:
    fc = DATA
    texts = jsonl(fc / "fewclue-tnews" / "unlabeled.json", "sentence") + \
        jsonl(fc / "fewclue-eprstmt" / "unlabeled.json", "sentence")
    for name in ("tnews", "iflytek", "eprstmt"):
        texts += jsonl(fc / f"fewclue-{name}" / "train_few_all.json", "sentence")
    dec, s, i = json.JSONDecoder(), (fc / "cluener2020" / "train.json").read_text(encoding="utf-8"), 0
    while i < len(s):  # cluener: concatenated JSON objects
        while i < len(s) and s[i].isspace():
            i += 1
        if i < len(s):
            obj, i = dec.raw_decode(s, i)
            texts.append(obj["text"])
    texts += weibo_sentences(weibo("train", CACHE / "weibo" / "train.conll"))
    evals = jsonl(fc / "fewclue-eprstmt" / "test_public.json", "sentence") + \
        weibo_sentences(weibo("test", CACHE / "weibo" / "test.conll")) + \
        weibo_sentences(weibo("dev", CACHE / "weibo" / "dev.conll"))
    for k in range(5):
        evals += jsonl(fc / "fewclue-eprstmt" / f"dev_{k}.json", "sentence")
    return write_corpus(texts, {norm(t) for t in evals}, path)


def pretrain_run(a, corpus: Path, out: Path, *extra) -> dict:
    if (out / "metrics.json").exists():
        return json.loads((out / "metrics.json").read_text())
    cfg = ROOT / "configs" / ("pretrain-sst2-mr.yaml" if a.lang == "en" else "pretrain-zh-small.yaml")
    cmd = [sys.executable, "-m", "lowdata.cli", "pretrain", "-c", str(cfg), f"corpus.paths=[{corpus}]",
           f"output_dir={out}", f"train.epochs={a.epochs}", f"train.progress={a.progress}", *extra]
    if a.lang == "zh":
        cmd.append(f"model.tokenizer={DATA / 'bert-vocab-zh'}")
    if (out / "checkpoint").exists():
        cmd.append("--resume")
    print(" ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    return json.loads((out / "metrics.json").read_text())


def random_init_like(model_dir: Path, out: Path) -> str:
    """The same architecture and tokenizer with random weights (seed 0): the 'no pretraining' arm."""
    import torch
    from transformers import AutoConfig, AutoTokenizer, BertModel

    if not (out / "config.json").exists():
        torch.manual_seed(0)
        BertModel(AutoConfig.from_pretrained(model_dir), add_pooling_layer=False).save_pretrained(out)
        AutoTokenizer.from_pretrained(model_dir).save_pretrained(out)
    return str(out)


def finetune(model: str, data: dict, seed: int, a, task: str) -> float:
    from lowdata.config import Config, DataConfig, ModelConfig, TrainConfig
    from lowdata.methods.finetune import run

    with tempfile.TemporaryDirectory() as out:
        cfg = Config(data=DataConfig(task=task, **data), model=ModelConfig(name=model, max_length=a.max_length),
                     train=TrainConfig(epochs=a.ft_epochs if task == "classify" else a.ner_epochs,
                                       batch_size=8 if task == "classify" else 16, lr=a.ft_lr, head_lr=1e-3,
                                       patience=5, seed=seed, progress=False, report_to=[], save_every=0),
                     output_dir=out)
        m = run(cfg)
    return m["test"]["accuracy"] if task == "classify" else m["test"]["f1"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lang", choices=["en", "zh"], default="en")
    ap.add_argument("--epochs", type=int, default=4, help="pretraining epochs over the corpus (<= 4: Muennighoff)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--max-length", type=int, default=128, help="zh fine-tuning max length")
    ap.add_argument("--ft-epochs", type=int, default=20)
    ap.add_argument("--ner-epochs", type=int, default=10)
    ap.add_argument("--ft-lr", type=float, default=2e-4, help="zh fine-tuning lr (small BERT)")
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--head-only-control", action="store_true",
                    help="also train only the new MLM head (encoder frozen), same steps: the fair 'before' for a "
                         "model that came without an MLM head")
    ap.add_argument("--control-only", action="store_true",
                    help="with --head-only-control: run only the control against the continued-pretraining result "
                         "already stored in the JSON, then stop (no pretraining or fine-tuning rerun)")
    ap.add_argument("--pretrain-only", action="store_true",
                    help="stop after pretraining (bench/cache/pt-<lang>/model), e.g. for backbones.py's "
                         "zh-scratch=bench/cache/pt-zh/model under the true few-shot protocol")
    a = ap.parse_args()
    if a.control_only and not a.head_only_control:
        ap.error("--control-only needs --head-only-control")

    # --pretrain-only keeps its record apart: the downstream runs stored in pretrain_value-<lang>.json came from the
    # model that was pretrained with them
    path = RESULTS / f"pretrain_value-{a.lang}{'-model' if a.pretrain_only else ''}.json"
    res = load_results(path) or {"args": vars(a), "machine": machine(), "runs": {}}
    corpus = CACHE / f"corpus-{a.lang}.txt"
    res["corpus"] = en_corpus(corpus) if a.lang == "en" else zh_corpus(corpus)
    print(f"corpus: {res['corpus']}", flush=True)
    out = CACHE / f"pt-{a.lang}"
    t0 = time.time()
    if a.control_only:
        if "pretrain" not in res:
            sys.exit(f"{path}: no continued-pretraining result stored yet; run without --control-only first")
        f = res["pretrain"]["heldout_after"]
    else:
        m = pretrain_run(a, corpus, out)
        res["pretrain"] = {k: m[k] for k in ("model", "corpus", "steps", "epochs_over_corpus", "seconds",
                                             "tokens_per_second", "heldout_before", "heldout_after", "best_step")}
        save_results(path, res)
        b, f = m["heldout_before"], m["heldout_after"]
        print(f"held-out MLM perplexity {b['perplexity']:.2f} -> {f['perplexity']:.2f} ({m['steps']} steps, "
              f"{m['seconds']:.0f}s, {time.time() - t0:.0f}s incl. corpus)", flush=True)
    if a.head_only_control:
        c = pretrain_run(a, corpus, CACHE / f"pt-{a.lang}-headonly", "model.freeze_encoder=true")
        res["pretrain_head_only"] = {k: c[k] for k in ("model", "steps", "seconds", "heldout_before", "heldout_after")}
        save_results(path, res)
        print(f"head-only control: held-out perplexity {c['heldout_after']['perplexity']:.2f} (encoder frozen, "
              f"{c['steps']} steps) vs {f['perplexity']:.2f} after continued pretraining", flush=True)
        if a.control_only:
            return
    if a.pretrain_only:
        return
    adapted = str(out / "model")
    if a.lang == "en":  # the downstream runs are bench/fewshot.py's, from the base and from the adapted model
        for model, tag in (("minilm", ""), (adapted, "-tapt")):
            subprocess.run([sys.executable, str(ROOT / "bench" / "fewshot.py"), "--dataset", "sst2", "--k", "16",
                            "--model", model, f"--tag={tag}", "--seeds", *map(str, a.seeds)], check=True)
        for tag in ("", "-tapt"):
            r = load_results(RESULTS / f"fewshot-sst2-k16{tag}.json")
            res["runs"][f"sst2_k16{tag or '-base'}"] = {s: v["score"] for s, v in r["runs"].items()}
    else:
        arms = {"pretrained": adapted, "random_init": random_init_like(out / "model", CACHE / "zh-random-init")}
        ep = DATA / "fewclue-eprstmt"
        for arm, model in arms.items():
            for seed in a.seeds:  # FewCLUE's own few-shot split `seed` (32 train, 32 dev), official public test
                key = f"eprstmt/{arm}/{seed}"
                if key not in res["runs"]:
                    d = dict(train=str(ep / f"train_{seed}.json"), dev=str(ep / f"dev_{seed}.json"),
                             test=str(ep / "test_public.json"), format="jsonl", text_column="sentence",
                             label_column="label")
                    res["runs"][key] = finetune(model, d, seed, a, "classify")
                    save_results(path, res)
                    print(f"{key}: test accuracy {res['runs'][key]:.4f}", flush=True)
            for seed in a.seeds[:3]:
                key = f"weibo/{arm}/{seed}"
                if key not in res["runs"]:
                    d = dict(train=str(CACHE / "weibo" / "train.conll"), dev=str(CACHE / "weibo" / "dev.conll"),
                             test=str(CACHE / "weibo" / "test.conll"), format="conll")
                    res["runs"][key] = finetune(model, d, seed, a, "ner")
                    save_results(path, res)
                    print(f"{key}: test entity F1 {res['runs'][key]:.4f}", flush=True)
    save_results(path, res)
    print("\n| downstream | arm | seeds | mean | std |\n|---|---|---:|---:|---:|")
    groups = {}
    for k, v in res["runs"].items():
        if isinstance(v, dict):
            groups[(k, "")] = list(v.values())
        else:
            task, arm, _ = k.split("/")
            groups.setdefault((task, arm), []).append(v)
    for (task, arm), v in groups.items():
        sd = statistics.stdev(v) if len(v) > 1 else 0.0
        print(f"| {task} | {arm} | {len(v)} | {statistics.mean(v):.4f} | {sd:.4f} |")


if __name__ == "__main__":
    main()
