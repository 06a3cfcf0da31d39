"""Pretraining throughput: `lowdata pretrain` vs transformers.Trainer + DataCollatorForLanguageModeling, one run.

    python bench/pretrain_speed.py                       # MiniLM + fresh MLM head, SST-2 train text, batch 16, 30 steps
    python bench/pretrain_speed.py --gpu --steps 200 --batch-size 64

Same model (all-MiniLM-L6-v2 with its new MLM head, from AutoModelForMaskedLM), the same packed sequences (lowdata's
corpus builder packs the text once; the Trainer side gets those token ids as its dataset), the same masking rate
(15%, 80/10/10, token-level on both sides: whole-word masking off), batch size, steps, AdamW, linear schedule,
no evaluation and no checkpoints. Timed: the training call only (lowdata: the loop `fit`; Trainer: `.train()`),
tokens = non-padding tokens of the batches actually trained on. Sides alternate over `--repeats`; best of each.
Both loops run in float32 and, where the hardware has native bf16, again under bf16 autocast (lowdata's default
there, the Trainer's `bf16=True`): the same-precision ratios and the each-at-its-default ratio are printed.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, RESULTS, machine, precision_label, precision_ratios, print_ratios, save_results  # noqa: E402


def corpus(a, tmp) -> str:
    from lowdata.data import fraction, read

    train = read(str(DATA / "sst2" / "stsa.binary.train"), format="label_text")
    texts = fraction(train, a.n / len(train), seed=0).texts
    path = os.path.join(tmp, "corpus.txt")
    Path(path).write_text("\n".join(texts) + "\n")
    return path


def config(a, path, out, bf16):
    from lowdata.config import PretrainConfig, load_config

    return load_config(None, [f"corpus.paths=[{path}]", f"model.name={a.model}", f"model.max_length={a.max_length}",
                              "corpus.heldout=0", "objective.whole_word=false", f"train.max_steps={a.steps}",
                              f"train.batch_size={a.batch_size}", "train.lr=1e-4", "train.save_every=0",
                              "train.report_to=[]", "train.progress=false", f"train.cpu={not a.gpu}",
                              f"train.bf16={bf16}", f"output_dir={out}"], cls=PretrainConfig)


def lowdata_side(a, path, out, bf16):
    from lowdata.pretrain import pretrain

    m = pretrain(config(a, path, out, bf16))
    return m["seconds"], m["tokens_per_second"] * m["seconds"]


def trainer_side(a, path, out, data_dir, bf16):
    import datasets
    from transformers import (AutoModelForMaskedLM, AutoTokenizer, DataCollatorForLanguageModeling, Trainer,
                              TrainingArguments)

    from lowdata.backbone import resolve
    from lowdata.pretrain.corpus import Packed

    seqs = Packed(data_dir)
    ds = datasets.Dataset.from_dict({"input_ids": [seqs[i][0].tolist() for i in range(len(seqs))]})
    tok = AutoTokenizer.from_pretrained(resolve(a.model))
    model = AutoModelForMaskedLM.from_pretrained(resolve(a.model))
    base = DataCollatorForLanguageModeling(tok, mlm_probability=0.15, seed=0)
    seen = {"tokens": 0}

    def collate(examples):
        b = base(examples)
        seen["tokens"] += int(b["attention_mask"].sum()) if "attention_mask" in b else \
            int((b["input_ids"] != tok.pad_token_id).sum())
        return b

    args = TrainingArguments(output_dir=out, per_device_train_batch_size=a.batch_size, max_steps=a.steps,
                             learning_rate=1e-4, warmup_steps=int(0.1 * a.steps), weight_decay=0.01,
                             logging_steps=10 ** 6, save_strategy="no", report_to=[], use_cpu=not a.gpu,
                             dataloader_num_workers=0, disable_tqdm=True, seed=0, bf16=bf16)
    trainer = Trainer(model=model, args=args, train_dataset=ds, data_collator=collate)
    t0 = time.perf_counter()
    trainer.train()
    return time.perf_counter() - t0, seen["tokens"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--n", type=int, default=3000, help="SST-2 train sentences (seeded sample) as the corpus")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--gpu", action="store_true")
    a = ap.parse_args()

    from lowdata.hardware import bf16_fast

    fast = bf16_fast("cuda" if a.gpu else "cpu")
    # both loops in float32 and, where bf16 is native, under bf16 autocast (lowdata's default there; Trainer's bf16)
    sides = [(name, p) for p in ([False, True] if fast else [False]) for name in ("lowdata", "trainer")]
    res = {k: [] for k in sides}
    with tempfile.TemporaryDirectory() as tmp:
        path = corpus(a, tmp)
        data_dir = os.path.join(tmp, "packed")
        for r in range(a.repeats):
            for k in (sides if r % 2 == 0 else sides[::-1]):  # repeat 0 runs lowdata first: its packed
                name, p = k                                    # sequences are the Trainer's dataset
                out = os.path.join(tmp, f"{name}{int(p)}{r}")
                if name == "lowdata":
                    res[k].append(lowdata_side(a, path, out, p))
                    if not os.path.exists(data_dir):
                        shutil.copytree(os.path.join(out, "data", "train"), data_dir)
                else:
                    res[k].append(trainer_side(a, path, out, data_dir, p))
                s, t = res[k][-1]
                print(f"repeat {r} {precision_label(k)}: {s:.1f}s, {t:.0f} tokens, {t / s:.0f} tokens/s", flush=True)
    rate = {k: max(t / s for s, t in v) for k, v in res.items()}
    ratios = precision_ratios(rate, fast)
    dev = "GPU" if a.gpu else "CPU"
    print(f"\nMLM pretraining, {a.model} + fresh MLM head, {a.n} SST-2 sentences packed to {a.max_length} tokens, "
          f"batch {a.batch_size}, {a.steps} steps, {dev} (native bf16: {fast}); best of {a.repeats}\n")
    print("| loop | precision | tokens/s |\n|---|---|---:|")
    for k in sides:
        print(f"| {k[0]} | {'bf16 autocast' if k[1] else 'float32'} | {rate[k]:.0f} |")
    print_ratios(ratios, "Trainer + DataCollatorForLanguageModeling")
    save_results(RESULTS / f"pretrain_speed-{dev.lower()}.json",
                 {"args": vars(a), "machine": machine(), "native_bf16": fast,
                  "runs": {precision_label(k): v for k, v in res.items()},
                  "tokens_per_s": {precision_label(k): v for k, v in rate.items()}, "ratios": ratios,
                  "ratio": ratios["float32, both"]})


if __name__ == "__main__":
    main()
