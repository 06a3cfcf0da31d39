"""The three offline backbones (minilm, mpnet, e5-small) under the true few-shot protocol, resumable.

    python bench/backbones.py --datasets sst2 agnews trec banking77 eprstmt tnews --seeds 0 1 2 3 4
    python bench/backbones.py --datasets sst2 --methods finetune setfit --seeds 0 1 2 3 4
    python bench/backbones.py --datasets sst2 --methods setfit setfit_lib --results setfit-parity   # the library
    python bench/backbones.py --datasets subj --methods setfit+pl --results setfit-parity   # + the pool (auto's recipe)
    python bench/backbones.py --datasets mr pc clinc-travel --methods setfit-unique --results setfit-sampling  # design
    python bench/backbones.py --datasets goemo-ekman --backbones minilm --methods setfit setfit-unique \
        --seeds 0 1 2 3 4 --results setfit-sampling   # the multi-class design run (session 24)
    python bench/backbones.py --datasets sst2 trec agnews banking77 --embed-bf16 --results frozen-bf16  # vs backbones
    python bench/backbones.py --datasets sst2 --backbones minilm --methods distill-mpnet --results distill  # teacher
    python bench/backbones.py --datasets sst2 --backbones mpnet --methods autodistill-mpnet --results distill-auto
    python bench/backbones.py --datasets eprstmt tnews --backbones zh-scratch=bench/cache/pt-zh/model \
        --methods frozen_lr finetune setfit   # a local folder (pretrain_value.py --lang zh's BERT) by name

Pair sampling for multi-class labels, the rule fixed before the goemo-ekman run (session 24): if, over the multi-class
design samples (CLINC travel seeds 0-2, session 23's; GoEmotions-Ekman seeds 0-4), setfit-unique's mean accuracy is
at least setfit's (per_text), contrastive.sampling's default becomes unique for labels of more than two classes
(per_text stays for two, where the binary design sets preferred it); otherwise nothing changes.

Every number uses the k labels per class and nothing else: no dev set anywhere (no early stopping, fixed epochs, the
published hyperparameters of each method: logistic regression C=1; label spreading alpha 0.99 and GCN over a
10-NN graph; fine-tuning 20 epochs, batch 8, lr 5e-5 / head 1e-3; SetFit 20 pairs per text, one epoch, then logistic
regression). Label budgets: SST-2 16/class (32), AG News 10/class (40), TREC 16/class (96), BANKING77 5/intent
(385); FewCLUE EPRSTMT and TNEWS use their official few-shot splits train_<seed>.json (32 and 240 labels), their
dev_<seed>.json is not read. CPU-sized and said so in the output: the test set is a fixed seeded draw of
--test-sample texts and the graph methods' unlabeled pool --unlabeled texts of the rest of train (FewCLUE: of its
unlabeled.json); the labels of both are never read by any method. Writes bench/results/<--results>.json (one entry per
dataset/backbone/method/seed with accuracy and seconds; one file per concurrent process) and prints one table.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (COMMIT, DATA, RESULTS, bf16_used, data_config, load_results, machine,  # noqa: E402
                    named_backbones, save_results)

K = {"sst2": 16, "agnews": 10, "trec": 16, "banking77": 5}
MORE = {"sst5": 16, "subj": 16}  # issue 22's other datasets (bench/auto.py)
# what auto's selection rule (bench/auto.py) and setfit+pl's weighting (bench/setfit_heads.py) were designed on;
# never a result
DESIGN = {"mr": 16, "clinc150": 5, "pc": 16, "clinc-travel": 8, "goemo-ekman": 8}
FEWCLUE = {"eprstmt": ("fewclue-eprstmt", "label"), "tnews": ("fewclue-tnews", "label_desc")}
EMBEDDING = ("frozen_lr", "label_spreading", "gcn")
DISTILLED = ("distill-", "distill2-", "autodistill-")  # method prefixes that read the pool


def splits_for(dataset: str, seed: int, a) -> dict:
    from lowdata.config import DataConfig
    from lowdata.data.splits import load_splits

    if dataset in FEWCLUE:
        folder, label = FEWCLUE[dataset]
        d = DATA / folder
        dc = DataConfig(train=str(d / f"train_{seed}.json"), test=str(d / "test_public.json"), format="jsonl",
                        text_column="sentence", label_column=label, unlabeled=str(d / "unlabeled.json"),
                        unlabeled_column="sentence", test_sample=a.test_sample)
    else:
        dc = data_config(dataset, k_per_class={**K, **MORE, **DESIGN}[dataset], sample_seed=seed,
                         test_sample=a.test_sample)
        dc.dev = None  # true few-shot: no dev split
    s = load_splits(dc, seed=seed)
    u = s["unlabeled"]
    if u is not None and len(u) > a.unlabeled:  # the same texts for every seed (by a hash of the text), so the
        # embedding cache holds them once; the seed's labeled texts are not in u
        key = lambda i: hashlib.blake2b(u.texts[i].encode(), digest_size=8).digest()  # noqa: E731
        idx = sorted(sorted(range(len(u)), key=key)[: a.unlabeled])
        s["unlabeled"] = u.subset(idx, unlabeled=True)
    s["dev"], s["unlabeled_truth"] = None, None
    return s


def run_one(method: str, model: str, splits: dict, seed: int, a) -> float | dict:
    from lowdata.config import Config, ContrastiveConfig, FrozenConfig, ModelConfig, SSLConfig, TrainConfig

    if method == "setfit_lib":
        return setfit_lib(model, splits, seed, a)
    if method == "setfit+pl":  # lowdata auto's recipe as auto trains it on all labels (bench/auto.py's hindsight)
        from auto import hindsight

        from lowdata.methods.auto import RECIPES

        return hindsight(next(r for r in RECIPES if r.name == method), model, splits, seed, a)
    with tempfile.TemporaryDirectory() as out:
        mc = ModelConfig(name=model, max_length=a.max_length, embed_bf16=a.embed_bf16)
        if method in EMBEDDING:
            from lowdata.methods.frozen import run

            cfg = Config(model=mc, ssl=SSLConfig(method=method), train=TrainConfig(seed=seed, progress=False,
                         report_to=[]), frozen=FrozenConfig(save_model=False), output_dir=os.path.join(out, "run"))
            return run(cfg, splits)["test"]["accuracy"]
        from lowdata.methods.finetune import run

        if method.startswith(("distill-", "distill2-")):  # distill2-: a second born-again generation
            generations = 2 if method.startswith("distill2-") else 1
            return distill(method.split("-", 1)[1], mc, splits, seed, a, out, generations)
        if method.startswith("autodistill-"):
            return autodistill(method.split("-", 1)[1], model, splits, seed, a, out)
        # -unique: contrastive.sampling=unique, the library's pairs; -random: random pair batches (contrastive.bucket)
        setfit = method in ("setfit", "setfit-unique", "setfit-random")
        tc = train_config(20 if method == "finetune" else 0, seed, a)
        cc = ContrastiveConfig(pairs=20 if setfit else 0, epochs=1,
                               sampling="unique" if method == "setfit-unique" else "per_text",
                               bucket=method != "setfit-random")
        cfg = Config(model=mc, train=tc, contrastive=cc, output_dir=os.path.join(out, "run"))
        return run(cfg, {**splits, "unlabeled": None})["test"]["accuracy"]


def train_config(epochs: int, seed: int, a):
    """The fixed recipe of the tuned methods here: batch 8, lr 5e-5 / head 1e-3, no dev, bf16 where native."""
    from lowdata.config import TrainConfig

    return TrainConfig(epochs=epochs, batch_size=8, lr=5e-5, head_lr=1e-3, patience=0, seed=seed, progress=False,
                       report_to=[], save_every=0, bf16=not a.fp32, fast_dropout=not a.torch_dropout)


def teacher_config(mc, seed: int, a, out: str):
    """The distill-<backbone> teacher (also bench/teacher_pass.py's): SetFit-style, 20 pairs a text, one epoch,
    logistic head, the fixed recipe of train_config, in <out>."""
    from lowdata.config import Config, ContrastiveConfig

    return Config(model=mc, train=train_config(0, seed, a), contrastive=ContrastiveConfig(pairs=20, epochs=1),
                  output_dir=out)


DISTILL_MU = 4  # with --distill-steps 300 (fixed before any run, no dev): ~5 passes over the 2,000-text pool


def distill(teacher_backbone: str, mc, splits: dict, seed: int, a, out: str, generations: int = 1) -> dict:
    """distill-<backbone>: a SetFit-style teacher on <backbone> (20 pairs a text, one epoch, logistic head: the
    `setfit` method here, same labels) -> the student (this row's backbone) fine-tuned on the labels plus the
    teacher's class probabilities over the pool (ssl.method=distill, T 1, weight 1), --distill-steps of 8 labeled
    + DISTILL_MU x 8 pool texts, lr 5e-5 / head 1e-3. Only the k labels and the pool's texts are used.
    distill2-<backbone>: then a second student, the same settings, taught by the first (Furlanello et al. 2018's
    next born-again generation; they also ensemble the generations, not done here); its accuracy is the row's."""
    import dataclasses

    from lowdata.config import Config, SSLConfig
    from lowdata.methods.finetune import run

    tc = train_config(0, seed, a)
    teacher = teacher_config(dataclasses.replace(mc, name=teacher_backbone), seed, a, os.path.join(out, "teacher"))
    t = run(teacher, {**splits, "unlabeled": None})["test"]["accuracy"]
    student = Config(model=mc, train=dataclasses.replace(tc, max_steps=a.distill_steps),
                     ssl=SSLConfig(method="distill", teacher=os.path.join(out, "teacher", "model"), mu=DISTILL_MU),
                     output_dir=os.path.join(out, "student"))
    s = run(student, splits)["test"]["accuracy"]
    print(f"  teacher ({teacher_backbone} SetFit-style) {t:.4f}, student ({mc.name}) {s:.4f}", flush=True)
    if generations == 1:
        return {"accuracy": s, "teacher_accuracy": t}
    second = dataclasses.replace(student, ssl=dataclasses.replace(
        student.ssl, teacher=os.path.join(out, "student", "model")), output_dir=os.path.join(out, "student2"))
    s2 = run(second, splits)["test"]["accuracy"]
    print(f"  second generation ({mc.name}) {s2:.4f}", flush=True)
    return {"accuracy": s2, "teacher_accuracy": t, "first_student_accuracy": s}


def autodistill(teacher_backbone: str, student_backbone: str, splits: dict, seed: int, a, out: str) -> dict:
    """autodistill-<backbone>: what `lowdata auto --backbones <backbone> --distill-to <row's backbone>` trains after
    a search that chose setfit+pl (its choice on every SST-2 sample with mpnet, bench/results/auto-full-mpnet.json; the
    search itself is not rerun here): setfit+pl on <backbone> as auto's final training trains it (all labels + the
    pool), then the product's own student step (lowdata.methods.auto_distill.student: its settings, its held-out
    fifth of the pool, its disagreement measure). Only the k labels and the pool's texts are used."""
    from auto import base_config, hindsight

    from lowdata.methods.auto import RECIPES, Recipe, _cfg
    from lowdata.methods.auto_distill import overrides, student

    teacher_dir = os.path.join(out, "teacher")
    t = hindsight(next(r for r in RECIPES if r.name == "setfit+pl"), teacher_backbone, splits, seed, a, teacher_dir)
    recipe = Recipe("distill", overrides(os.path.join(teacher_dir, "run", "model")), True, True)
    # auto's base + the student's settings, as auto._distill builds them
    cfg = _cfg(base_config(seed, a), recipe, student_backbone, os.path.join(out, "student"))
    s = student(cfg, out, splits["train"], splits["unlabeled"], splits["test"], (0.0, 1.0), seed, False,
                lambda m: print(f"  {m}", flush=True))
    acc = s["test"]["accuracy"]
    print(f"  teacher ({teacher_backbone} setfit+pl) {t:.4f}, student ({student_backbone}) {acc:.4f}, held-out "
          f"disagreement {s['disagreement']:.3f}", flush=True)
    return {"accuracy": acc, "teacher_accuracy": t, "disagreement": s["disagreement"], "pool_used": s["pool"]}


def setfit_lib(model: str, splits: dict, seed: int, a) -> float:
    """The `setfit` library on the same sample, in its own venv (bench/setfit_lib.py; make bench-setfit)."""
    import json
    import subprocess

    from lowdata.backbone import resolve

    py = Path(__file__).resolve().parents[1] / ".venv-setfit" / "bin" / "python"
    if not py.exists():
        raise SystemExit("setfit_lib needs .venv-setfit: run `make bench-setfit`")
    tr, te = splits["train"], splits["test"]
    job = {"model": resolve(model), "train": [[t, y] for t, y in zip(tr.texts, tr.labels)], "test": te.texts,
           "seed": seed, "num_iterations": 20, "num_epochs": 1, "batch_size": 16, "max_length": a.max_length}
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    out = subprocess.run([str(py), str(Path(__file__).with_name("setfit_lib.py"))], input=json.dumps(job),
                         capture_output=True, text=True, env=env, check=False)
    if out.returncode:
        raise RuntimeError(f"setfit_lib failed: {out.stderr[-2000:]}")
    pred = json.loads(out.stdout.strip().splitlines()[-1])["pred"]
    return sum(p == y for p, y in zip(pred, te.labels)) / len(te.labels)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=list(K) + list(FEWCLUE))
    ap.add_argument("--backbones", nargs="+", default=["minilm", "e5-small", "mpnet"],
                    help="aliases or model folders; NAME=PATH keys a local folder's results by NAME")
    ap.add_argument("--methods", nargs="+", default=list(EMBEDDING))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--test-sample", type=int, default=1000)
    ap.add_argument("--unlabeled", type=int, default=2000)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--results", default="backbones", help="result file bench/results/<name>.json (one per process)")
    ap.add_argument("--distill-steps", type=int, default=300, help="distill-<backbone>: the student's steps")
    ap.add_argument("--fp32", action="store_true", help="train in float32 also where the hardware has native bf16 "
                    "(train.bf16=false; the default trains under bf16 autocast there)")
    ap.add_argument("--torch-dropout", action="store_true", help="torch's own dropout in training "
                    "(train.fast_dropout=false; the default draws CPU dropout masks with numpy: lowdata.dropout)")
    ap.add_argument("--embed-bf16", action="store_true", help="the frozen methods' sentence vectors under bf16 "
                    "autocast where the hardware runs it natively (model.embed_bf16; float32 by default)")
    a = ap.parse_args()
    where = named_backbones(a.backbones)  # result keys use the names; NAME=PATH runs a local model folder
    a.backbones = list(where)
    path = RESULTS / f"{a.results}.json"
    res = load_results(path) or {"protocol": "true few-shot, no dev", "machine": machine(), "runs": {}}
    for dataset in a.datasets:
        for seed in a.seeds:
            splits = None
            for model in a.backbones:
                if dataset in FEWCLUE and model == "mpnet":
                    continue  # an English-only model (its SST-2 row says what it is worth)
                for method in a.methods:
                    key = f"{dataset}/{model}/{method}/{seed}"
                    if key in res["runs"]:
                        continue
                    splits = splits or splits_for(dataset, seed, a)
                    t0 = time.time()
                    out = run_one(method, where[model], splits, seed, a)  # an accuracy, or a dict holding it (distill)
                    out = out if isinstance(out, dict) else {"accuracy": out}
                    acc = out["accuracy"]
                    pooled = method in (*EMBEDDING[1:], "setfit+pl") or method.startswith(DISTILLED)
                    res["runs"][key] = {**out, "seconds": round(time.time() - t0, 1),
                                        "n_train": len(splits["train"]), "n_test": len(splits["test"]),
                                        "n_unlabeled": len(splits["unlabeled"] or []) if pooled else 0,
                                        "test_sample": a.test_sample, "commit": COMMIT,
                                        # the library trains in float32 (its use_amp is off) whatever --fp32 says
                                        "bf16": bf16_used(res, not a.fp32 and method != "setfit_lib"),
                                        "embed_bf16": bf16_used(res, a.embed_bf16),
                                        "fast_dropout": not a.torch_dropout and method != "setfit_lib"}
                    save_results(path, res)
                    print(f"{key}: {acc:.4f} ({time.time() - t0:.0f}s)", flush=True)
    print(f"\nTrue few-shot (no dev). Test: a fixed draw of {a.test_sample}; graph methods' pool: {a.unlabeled} "
          f"unlabeled texts (CPU-sized). Mean +- std over seeds (n), seconds per run.\n")
    print("| dataset | labels | backbone | " + " | ".join(a.methods) + " |")
    print("|---|---:|---|" + "---:|" * len(a.methods))
    for dataset in a.datasets:
        for model in a.backbones:
            cells, n_train = [], "?"
            for method in a.methods:
                rs = [r for k, r in res["runs"].items() if k.startswith(f"{dataset}/{model}/{method}/")]
                if not rs:
                    cells.append("-")
                    continue
                n_train = rs[0]["n_train"]
                acc = [r["accuracy"] for r in rs]
                sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
                cells.append(f"{statistics.mean(acc):.3f} +- {sd:.3f} ({len(acc)}), "
                             f"{statistics.mean(r['seconds'] for r in rs):.0f}s")
            print(f"| {dataset} | {n_train} | {model} | " + " | ".join(cells) + " |")
    paired(res["runs"], a)


def paired(runs: dict, a) -> None:
    """Each method minus the `setfit` library on the same samples (points, per seed), when both ran."""
    if "setfit_lib" not in a.methods:
        return
    print("\nMinus the `setfit` library on the same sample, in points (seeds in order; mean; ahead / behind):\n")
    for dataset in a.datasets:
        for model in a.backbones:
            lib = {k.rsplit("/", 1)[1]: r["accuracy"] for k, r in runs.items()
                   if k.startswith(f"{dataset}/{model}/setfit_lib/")}
            for method in a.methods:
                mine = {k.rsplit("/", 1)[1]: r["accuracy"] for k, r in runs.items()
                        if k.startswith(f"{dataset}/{model}/{method}/")}
                seeds = sorted(set(lib) & set(mine), key=int)
                if method == "setfit_lib" or not seeds:
                    continue
                d = [100 * (mine[s] - lib[s]) for s in seeds]
                print(f"- {dataset} / {model} / {method}: " + " / ".join(f"{x:+.1f}" for x in d) +
                      f"; mean {statistics.mean(d):+.2f}; {sum(x > 0 for x in d)} / {sum(x < 0 for x in d)}")


if __name__ == "__main__":
    main()
