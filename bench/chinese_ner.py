"""Chinese NER with each backbone at a fraction of the training sentences, true few-shot, resumable.

    python bench/chinese_ner.py --datasets weibo cluener --fractions 0.01 0.1 1.0 --backbones e5-small minilm \
        --seeds 0 1 2
    python bench/chinese_ner.py --datasets msra --fractions 0.1 --backbones e5-small --seeds 0 1 --recipe steps
    python bench/chinese_ner.py --datasets msra --fractions 0.1 --backbones e5-small --seeds 0 1 --recipe steps \
        --decode both --results ner-decode     # argmax vs constrained Viterbi on the same trained taggers
    python bench/chinese_ner.py --datasets weibo --backbones zh-scratch=bench/cache/pt-zh/model --decode both

Weibo NER (Peng & Dredze 2015, 2nd version; its word-position digits stripped, characters kept) scored on its test
split; CLUENER2020 (its test has no labels) scored on its dev split. No dev set is used for any decision: a fixed
recipe, no early stopping, max_length 128 (RECIPES: `v1`, the first, written before any run: batch 16, lr 5e-5, head
lr 1e-3; 20 epochs at 1%, 10 at 10%, 4 at 100%; `steps`: a fixed number of optimizer steps whatever the size;
`floor`: as many, or 10 epochs where that is more).
`msra` is the design set the recipe is chosen on (never Weibo or CLUENER): MSRA NER (Levow 2006) has no train split
here, so its dev split's first 1,350 sentences stand in for one, Weibo's size (10% = 135 sentences, as Weibo's), and
scores are on a fixed draw of 1,000 of its 4,636 test sentences. Entity micro F1 (seqeval, default mode). Converted
files go to bench/cache/. Writes bench/results/<--results>.json, chinese_ner.json by default (keys
dataset/fraction/backbone/seed, prefixed with the recipe when it is not v1). Training runs under bf16 autocast where
the hardware runs bf16 natively (train.bf16), unless --fp32; the runs up to session 31 were float32.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, RESULTS, ROOT, bf16_used, load_results, machine, named_backbones, save_results  # noqa: E402
from pretrain_value import weibo  # noqa: E402

CACHE = ROOT / "bench" / "cache" / "chinese_ner"
EPOCHS = {0.01: 20, 0.1: 10, 1.0: 4}
# `steps`: few-sample fine-tuning needs more updates than a few epochs of a few sentences give (Mosbach, Andriushchenko
# & Klakow 2021, "On the Stability of Fine-tuning BERT"; Zhang et al. 2021, "Revisiting Few-sample BERT Fine-tuning":
# train for a fixed, larger number of steps), with the learning rate and batch of the CoNLL-2003 1% run (bench/README).
# `floor`: the same, but at least 10 epochs where 600 steps would be fewer (1,350 sentences: 1,690 steps), for the
# larger fractions, where 600 steps are under 4 epochs (session 26: Weibo 100% 0.460 against 0.367 at 10%).
# `floor20`: 20 epochs instead of 10 (session 32: is 1,350 sentences still under-trained at 10 epochs? chosen on MSRA
# against `floor`, both in the same precision, before any Weibo run with it).
RECIPES = {"v1": {"batch_size": 16, "lr": 5e-5, "head_lr": 1e-3},
           "steps": {"batch_size": 8, "lr": 1e-4, "head_lr": 1e-3, "max_steps": 600},
           "floor": {"batch_size": 8, "lr": 1e-4, "head_lr": 1e-3, "max_steps": 600, "min_epochs": 10},
           "floor20": {"batch_size": 8, "lr": 1e-4, "head_lr": 1e-3, "max_steps": 600, "min_epochs": 20}}
MSRA_TRAIN, MSRA_TEST = 1350, 1000


def cluener(split: str, out: Path) -> Path:
    """CLUENER's pretty-printed JSON objects with {type: {mention: [[start, end_inclusive]]}} -> character BIO."""
    text = (DATA / "cluener2020" / f"{split}.json").read_text(encoding="utf-8")
    dec, pos, blocks = json.JSONDecoder(), 0, []
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        obj, pos = dec.raw_decode(text, pos)
        chars = list(obj["text"])
        tags = ["O"] * len(chars)
        for typ, mentions in obj.get("label", {}).items():
            for spans in mentions.values():
                for a, b in spans:
                    tags[a] = f"B-{typ}"
                    for i in range(a + 1, b + 1):
                        tags[i] = f"I-{typ}"
        blocks.append("\n".join(f"{c}\t{t}" for c, t in zip(chars, tags) if c.strip()))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return out


def msra(split: str, out: Path, limit: int = 0) -> Path:
    """MSRA NER's TSV (space-separated characters, space-separated tags) -> character BIO, the first `limit` rows."""
    rows = (DATA / "msra-ner" / f"{split}.tsv").read_text(encoding="utf-8").splitlines()[1:]
    blocks = []
    for n, row in enumerate(r for r in rows if r.strip()):
        if limit and n == limit:
            break
        text, tags = row.split("\t")
        chars, tags = text.split(" "), tags.split(" ")
        assert len(chars) == len(tags), f"{split}.tsv row {n + 2}: {len(chars)} characters, {len(tags)} tags"
        blocks.append("\n".join(f"{c}\t{t}" for c, t in zip(chars, tags) if c.strip()))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return out


def files(dataset: str) -> tuple:
    if dataset == "msra":
        return msra("dev", CACHE / "msra" / "train.conll", MSRA_TRAIN), msra("test", CACHE / "msra" / "test.conll")
    if dataset == "weibo":
        return weibo("train", CACHE / "weibo" / "train.conll"), weibo("test", CACHE / "weibo" / "test.conll")
    return cluener("train", CACHE / "cluener" / "train.conll"), cluener("dev", CACHE / "cluener" / "dev.conll")


def paired_decodes(run_dir: str, test) -> dict:
    """The saved tagger's test logits once, decoded by argmax and by constrained Viterbi (lowdata.evaluate.decode):
    entity micro F1 in seqeval's default and strict IOB2 modes, and the seconds each decoding took."""
    from lowdata.backbone import TaskModel
    from lowdata.batching import encode_windows, predict_logits, stitch
    from lowdata.data import LabelMap
    from lowdata.evaluate.decode import decode
    from lowdata.evaluate.metrics import ner_report

    model, tok, meta = TaskModel.load(str(Path(run_dir) / "model"))
    model.eval()
    labels = LabelMap(meta["labels"])
    windows, spans = encode_windows(test, tok, None, meta["max_length"])
    logits = stitch(predict_logits(model, windows, tok.pad_token_id, 64, None, None, meta["max_length"]), spans)
    out = {}
    for mode, tag in (("argmax", ""), ("viterbi", "_viterbi")):
        t0 = time.time()
        pred = [[labels.names[i] for i in p] for p in decode(logits, labels.names, mode)]
        out[f"decode_seconds{tag}"] = round(time.time() - t0, 3)
        rep = ner_report(test.tags, pred)
        out[f"f1{tag}"], out[f"f1{tag}_strict"] = rep["f1"], rep["strict"]["f1"]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=["weibo", "cluener"])
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.1, 1.0])
    ap.add_argument("--backbones", nargs="+", default=["e5-small", "minilm"],
                    help="aliases or model folders; NAME=PATH keys a local folder's results by NAME")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--recipe", default="v1", choices=sorted(RECIPES))
    ap.add_argument("--results", default="chinese_ner", help="result file bench/results/<name>.json")
    ap.add_argument("--fp32", action="store_true", help="train in float32 also where the hardware has native bf16")
    ap.add_argument("--decode", default="argmax", choices=["argmax", "both"],
                    help="both: train with model.ner_decode=argmax, then score the same model's test logits decoded "
                         "by argmax (f1) and by constrained Viterbi (f1_viterbi), paired; keys get a decode: prefix")
    a = ap.parse_args()
    from lowdata.config import Config, DataConfig, ModelConfig, TrainConfig
    from lowdata.data.splits import load_splits
    from lowdata.methods.finetune import run

    where = named_backbones(a.backbones)  # result keys use the names; NAME=PATH runs a local model folder
    a.backbones = list(where)
    path = RESULTS / f"{a.results}.json"
    res = load_results(path) or {"protocol": "true few-shot, no dev", "machine": machine(), "runs": {}}
    for dataset in a.datasets:
        train, test = files(dataset)
        for frac in a.fractions:
            for seed in a.seeds if frac < 1 else a.seeds[:1]:
                for model in a.backbones:
                    key = ("" if a.recipe == "v1" else f"{a.recipe}:") + f"{dataset}/{frac}/{model}/{seed}"
                    key = ("decode:" if a.decode == "both" else "") + key
                    if key in res["runs"]:
                        continue
                    with tempfile.TemporaryDirectory() as out:
                        r = dict(RECIPES[a.recipe])
                        dc = DataConfig(train=str(train), test=str(test), format="conll", task="ner",
                                        fraction=frac if frac < 1 else None, sample_seed=seed,
                                        test_sample=MSRA_TEST if dataset == "msra" else 0)
                        if "min_epochs" in r:  # max(600 steps, min_epochs epochs) over this sample's sentences
                            n = len(load_splits(dc, seed=seed)["train"].tokens)
                            r["max_steps"] = max(r["max_steps"], r.pop("min_epochs") * math.ceil(n / r["batch_size"]))
                        cfg = Config(data=dc,
                                     model=ModelConfig(name=where[model], max_length=128, ner_decode="argmax"),
                                     train=TrainConfig(epochs=EPOCHS.get(frac, 4), patience=0, seed=seed,
                                                       progress=False, report_to=[], save_every=0,
                                                       bf16=not a.fp32, **r),
                                     output_dir=out)
                        t0 = time.time()
                        m = run(cfg)
                        secs = round(time.time() - t0, 1)
                        both = paired_decodes(out, load_splits(dc, seed=seed)["test"]) if a.decode == "both" else {}
                    res["runs"][key] = {"f1": m["test"]["f1"], "n_train": m["n_train"], "seconds": secs,
                                        "bf16": bf16_used(res, not a.fp32), **both}
                    if both:
                        print(f"{key}: argmax {both['f1']:.4f} (strict {both['f1_strict']:.4f}), viterbi "
                              f"{both['f1_viterbi']:.4f} (strict {both['f1_viterbi_strict']:.4f})", flush=True)
                    save_results(path, res)
                    print(f"{key}: entity F1 {m['test']['f1']:.4f} ({m['n_train']} sentences, "
                          f"{time.time() - t0:.0f}s)", flush=True)
    print(f"\nrecipe {a.recipe}: {RECIPES[a.recipe]}")
    if a.decode == "both":
        print("cells: entity F1 with argmax / with constrained Viterbi decoding, the same models")
    print("\n| dataset | fraction | sentences | " + " | ".join(a.backbones) + " |\n|---|---:|---:|" +
          "---:|" * len(a.backbones))
    for dataset in a.datasets:
        for frac in a.fractions:
            cells, n = [], "?"
            for model in a.backbones:
                pre = ("decode:" if a.decode == "both" else "") + ("" if a.recipe == "v1" else f"{a.recipe}:") + \
                    f"{dataset}/{frac}/{model}/"
                rs = [v for k, v in res["runs"].items() if k.startswith(pre)]
                if rs:
                    n = rs[0]["n_train"]
                    cell = []
                    for what in ("f1", "f1_viterbi") if a.decode == "both" else ("f1",):
                        f = [r[what] for r in rs]
                        cell.append(f"{statistics.mean(f):.4f} +- {statistics.stdev(f) if len(f) > 1 else 0:.4f}")
                    cells.append(" / ".join(cell) + f" ({len(rs)})")
                else:
                    cells.append("-")
            print(f"| {dataset} | {frac:g} | {n} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
