"""Training throughput: lowdata's loop vs transformers.Trainer, same model, data, batch size and steps, one run.

    python bench/train_speed.py                     # SST-2 train sentences, MiniLM, batch 32, 60 steps
    python bench/train_speed.py --steps 20 --n 1000 # quicker

Both sides train the same module (lowdata's TaskModel: MiniLM + mean pooling + linear head) with AdamW and a linear
schedule, max_length 128. The Trainer side uses DataCollatorWithPadding (random batches padded to their longest).
Each side is timed end to end on the same work: load the backbone, tokenize, train `steps` steps, save the model.
Order alternates over `--repeats` so neither side always runs on a warm cache; each side's best (minimum) time
is used, the usual way to keep a busy machine's noise out of a timing. Both loops run in float32 and, where the
hardware has native bf16 (lowdata.hardware.bf16_fast), again under bf16 autocast (lowdata's default there, the
Trainer's `bf16=True`): the same-precision ratios and the each-at-its-default ratio are printed. A third side,
lowdata with torch's own dropout (train.fast_dropout=false), shows what lowdata.dropout's numpy-drawn masks and
CPU attention-with-dropout add, in the same run. Writes JSON.
"""
from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, RESULTS, machine, precision_label, precision_ratios, print_ratios, save_results  # noqa: E402


def lowdata_side(data, a, out, bf16, fast_dropout=True):
    from lowdata.config import Config, ModelConfig, TrainConfig
    from lowdata.methods.finetune import run

    cfg = Config(model=ModelConfig(name=a.model, max_length=a.max_length),
                 train=TrainConfig(max_steps=a.steps, batch_size=a.batch_size, lr=5e-5, warmup_ratio=0.1,
                                   progress=False, report_to=[], save_every=0, patience=0, bf16=bf16,
                                   fast_dropout=fast_dropout),
                 output_dir=out)
    t0 = time.perf_counter()
    run(cfg, {"train": data, "dev": None, "test": None, "unlabeled": None})
    return time.perf_counter() - t0


def trainer_side(data, a, out, bf16):
    import datasets
    import torch.nn.functional as F
    from torch import nn
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    from lowdata.backbone import TaskModel, load_encoder
    from lowdata.data import LabelMap

    class WithLoss(nn.Module):  # the same TaskModel, returning a loss the way Trainer expects
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, labels=None, **_):
            logits = self.m(input_ids, attention_mask)
            return {"loss": F.cross_entropy(logits, labels), "logits": logits}

    t0 = time.perf_counter()
    labels = LabelMap.from_data(data)
    enc, tok = load_encoder(a.model)
    model = WithLoss(TaskModel(enc, len(labels)))
    ds = datasets.Dataset.from_dict({"text": data.texts, "labels": [labels.encode(y) for y in data.labels]})
    ds = ds.map(lambda b: tok(b["text"], truncation=True, max_length=a.max_length), batched=True,
                remove_columns=["text"])
    args = TrainingArguments(output_dir=out, per_device_train_batch_size=a.batch_size, max_steps=a.steps,
                             learning_rate=5e-5, warmup_steps=int(0.1 * a.steps), weight_decay=0.01,
                             logging_steps=10 ** 6, save_strategy="no", report_to=[], use_cpu=not a.gpu,
                             dataloader_num_workers=0, disable_tqdm=True, seed=0, bf16=bf16)
    Trainer(model=model, args=args, train_dataset=ds, data_collator=DataCollatorWithPadding(tok)).train()
    model.m.save(out + "/model", tok, labels.names, a.max_length)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--n", type=int, default=2000, help="training sentences (SST-2 train, seeded sample)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--gpu", action="store_true")
    a = ap.parse_args()

    from lowdata.data import fraction, read

    from lowdata.hardware import bf16_fast

    train = read(str(DATA / "sst2" / "stsa.binary.train"), format="label_text")
    data = fraction(train, a.n / len(train), seed=0)
    fast = bf16_fast("cuda" if a.gpu else "cpu")
    # each loop in float32, and under bf16 autocast where the hardware runs it natively (lowdata's default there;
    # the Trainer's default is float32 everywhere, bf16=True its opt-in)
    precisions = [False, True] if fast else [False]
    torch_dropout = functools.partial(lowdata_side, fast_dropout=False)
    sides = {(name, p): (fn, p) for name, fn in (("lowdata", lowdata_side), ("trainer", trainer_side),
                                                 ("lowdata torch-dropout", torch_dropout)) for p in precisions}
    times = {k: [] for k in sides}
    for r in range(a.repeats):
        order = list(sides) if r % 2 == 0 else list(sides)[::-1]
        for k in order:
            fn, p = sides[k]
            with tempfile.TemporaryDirectory() as out:
                times[k].append(fn(data, a, out, p))
            print(f"repeat {r} {precision_label(k)}: {times[k][-1]:.1f}s", flush=True)
    ex = a.steps * a.batch_size
    rate = {k: ex / min(v) for k, v in times.items()}
    ratios = precision_ratios(rate, fast)
    for p in precisions:  # what lowdata.dropout's numpy-drawn masks add, in the same run
        ratios[f"{'bf16 autocast' if p else 'float32'}, both, lowdata with torch's dropout"] = \
            rate[("lowdata torch-dropout", p)] / rate[("trainer", p)]
    print(f"\nSST-2 ({len(data)} sentences), {a.model}, batch {a.batch_size}, {a.steps} steps, max_length "
          f"{a.max_length}, {'GPU' if a.gpu else 'CPU'} (native bf16: {fast}); best of {a.repeats}\n")
    print("| loop | precision | seconds | examples/s |\n|---|---|---:|---:|")
    for k in sides:
        print(f"| {k[0]} | {'bf16 autocast' if k[1] else 'float32'} | {min(times[k]):.1f} | {rate[k]:.1f} |")
    print_ratios(ratios, "Trainer")
    save_results(RESULTS / f"train_speed-{'gpu' if a.gpu else 'cpu'}.json",
                 {"args": vars(a), "machine": machine(), "native_bf16": fast,
                  "seconds": {precision_label(k): v for k, v in times.items()},
                  "examples_per_s": {precision_label(k): v for k, v in rate.items()}, "ratios": ratios,
                  "ratio": ratios["float32, both"]})


if __name__ == "__main__":
    main()
