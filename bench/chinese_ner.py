"""Chinese NER with each backbone at a fraction of the training sentences, true few-shot, resumable.

    python bench/chinese_ner.py --datasets weibo cluener --fractions 0.01 0.1 1.0 --backbones e5-small minilm --seeds 0 1 2

Weibo NER (Peng & Dredze 2015, 2nd version; its word-position digits stripped, characters kept) scored on its test
split; CLUENER2020 (its test has no labels) scored on its dev split. No dev set is used for any decision: a fixed
recipe (batch 16, lr 5e-5, head lr 1e-3, max_length 128; 20 epochs at 1%, 10 at 10%, 4 at 100%; no early stopping).
Entity micro F1 (seqeval, default mode). Converted files go to bench/cache/. Writes bench/results/chinese_ner.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, RESULTS, ROOT, load_results, machine, save_results  # noqa: E402
from pretrain_value import weibo  # noqa: E402

CACHE = ROOT / "bench" / "cache" / "chinese_ner"
EPOCHS = {0.01: 20, 0.1: 10, 1.0: 4}


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


def files(dataset: str) -> tuple:
    if dataset == "weibo":
        return weibo("train", CACHE / "weibo" / "train.conll"), weibo("test", CACHE / "weibo" / "test.conll")
    return cluener("train", CACHE / "cluener" / "train.conll"), cluener("dev", CACHE / "cluener" / "dev.conll")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=["weibo", "cluener"])
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.1, 1.0])
    ap.add_argument("--backbones", nargs="+", default=["e5-small", "minilm"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    a = ap.parse_args()
    from lowdata.config import Config, DataConfig, ModelConfig, TrainConfig
    from lowdata.methods.finetune import run

    path = RESULTS / "chinese_ner.json"
    res = load_results(path) or {"protocol": "true few-shot, no dev", "machine": machine(), "runs": {}}
    for dataset in a.datasets:
        train, test = files(dataset)
        for frac in a.fractions:
            for seed in a.seeds if frac < 1 else a.seeds[:1]:
                for model in a.backbones:
                    key = f"{dataset}/{frac}/{model}/{seed}"
                    if key in res["runs"]:
                        continue
                    with tempfile.TemporaryDirectory() as out:
                        cfg = Config(data=DataConfig(train=str(train), test=str(test), format="conll", task="ner",
                                                     fraction=frac if frac < 1 else None, sample_seed=seed),
                                     model=ModelConfig(name=model, max_length=128),
                                     train=TrainConfig(epochs=EPOCHS.get(frac, 4), batch_size=16, lr=5e-5,
                                                       head_lr=1e-3, patience=0, seed=seed, progress=False,
                                                       report_to=[], save_every=0), output_dir=out)
                        t0 = time.time()
                        m = run(cfg)
                    res["runs"][key] = {"f1": m["test"]["f1"], "n_train": m["n_train"],
                                        "seconds": round(time.time() - t0, 1)}
                    save_results(path, res)
                    print(f"{key}: entity F1 {m['test']['f1']:.4f} ({m['n_train']} sentences, "
                          f"{time.time() - t0:.0f}s)", flush=True)
    print("\n| dataset | fraction | sentences | " + " | ".join(a.backbones) + " |\n|---|---:|---:|" +
          "---:|" * len(a.backbones))
    for dataset in a.datasets:
        for frac in a.fractions:
            cells, n = [], "?"
            for model in a.backbones:
                rs = [v for k, v in res["runs"].items() if k.startswith(f"{dataset}/{frac}/{model}/")]
                if rs:
                    n = rs[0]["n_train"]
                    f = [r["f1"] for r in rs]
                    cells.append(f"{statistics.mean(f):.4f} +- {statistics.stdev(f) if len(f) > 1 else 0:.4f} "
                                 f"({len(f)})")
                else:
                    cells.append("-")
            print(f"| {dataset} | {frac:g} | {n} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
