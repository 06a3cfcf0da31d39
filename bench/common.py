"""Shared bits of the benchmarks: where the data is (one setting: LOWDATA_DATA), named datasets, result files."""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMIT = os.popen(f"git -C {ROOT} rev-parse --short HEAD 2>/dev/null").read().strip()  # recorded with results
DATA = Path(os.environ.get("LOWDATA_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "bench" / "results"

DATASETS = {  # name -> data config (paths relative to DATA)
    "sst2": dict(train="sst2/stsa.binary.train", dev="sst2/stsa.binary.dev", test="sst2/stsa.binary.test",
                 format="label_text", task="classify"),
    "trec": dict(train="trec/TREC.train.all", test="trec/TREC.test.all", format="label_text", task="classify",
                 encoding="latin-1"),  # the files hold a few Latin-1 bytes
    "agnews": dict(train="agnews/dev.tsv", test="agnews/test.tsv", format="tsv", task="classify"),
    "banking77": dict(train="banking77/train.csv", test="banking77/test.csv", format="csv", task="classify"),
    "conll2003": dict(train="conll2003/train.txt", dev="conll2003/valid.txt", test="conll2003/test.txt",
                      format="conll", task="ner"),
    "sst5": dict(train="sst5/stsa.fine.train", dev="sst5/stsa.fine.dev", test="sst5/stsa.fine.test",
                 format="label_text", task="classify"),
    # no official split: made once by bench_split() (a fifth of the lines, by a hash of the line, is the test set)
    "subj": dict(train="subj.train", test="subj.test", format="label_text", task="classify", split="subj/subj.all"),
    "mr": dict(train="mr.train", test="mr.test", format="label_text", task="classify", split="mr/rt-polarity.all"),
    # Pros & Cons (Ganapathibhotla & Liu 2008), the EDA paper's copy: a design set of lowdata auto, never a result
    "pc": dict(train="eda-paper/pc/train_orig.txt", test="eda-paper/pc/test.txt", format="label_text", task="classify"),
    "clinc150": dict(train="clinc150.train.tsv", test="clinc150.test.tsv", format="tsv", task="classify",
                     split="clinc150/data_full.json"),
    # CLINC150's 15 travel intents alone (domains.json): a design set with many close classes, for choices that
    # binary MR and Pros & Cons cannot inform (session 23: guards on pseudo-labels); never a result
    "clinc-travel": dict(train="clinc-travel.train.tsv", test="clinc-travel.test.tsv", format="tsv", task="classify",
                         split="clinc150/data_full.json", domain="travel"),
    # GoEmotions' Ekman groups, the comments with exactly one (7 classes, neutral included, very unequal): a hard
    # multi-class design set like SST-5 (session 24: SetFit pair sampling for multi-class labels); never a result
    "goemo-ekman": dict(train="goemo-ekman.train.tsv", test="goemo-ekman.test.tsv", format="tsv", task="classify",
                        split="goemotions/ekman"),
}
SPLITS = ROOT / "runs" / "bench-data"  # the made splits (ignored by git; rebuilt from DATA when missing)


def bench_split(name: str) -> None:
    """Write SPLITS/<name>.train and .test for a dataset without an official split: SUBJ and MR (a fifth of the
    lines by a blake2b hash of the line is the test set: SUBJ 10,000 -> about 8,000 / 2,000, as in SetFit's copy);
    CLINC150 (data_full.json's train and test, the 150 in-scope intents; out-of-scope left out; with a domain, that
    domain's 15 intents of domains.json); GoEmotions' Ekman folder (train.tsv / test.tsv rows with one label id,
    named by labels.txt)."""
    import hashlib

    d = DATASETS[name]
    SPLITS.mkdir(parents=True, exist_ok=True)
    train, test = SPLITS / d["train"], SPLITS / d["test"]
    if train.exists() and test.exists():
        return
    src = DATA / d["split"]
    if src.is_dir():  # GoEmotions: text, comma-separated label ids, comment id
        names = (src / "labels.txt").read_text(encoding="utf-8").split()
        rows = {}
        for k in ("train", "test"):
            cells = [ln.split("\t") for ln in (src / f"{k}.tsv").read_text(encoding="utf-8").splitlines() if ln]
            rows[k] = "".join(f"{names[int(c[1])]}\t{c[0]}\n" for c in cells if "," not in c[1])
    elif src.suffix == ".json":
        full = json.loads(src.read_text(encoding="utf-8"))
        keep = set(json.loads((src.parent / "domains.json").read_text())[d["domain"]]) if d.get("domain") else None
        rows = {k: "".join(f"{lab}\t{t.replace(chr(9), ' ')}\n" for t, lab in full[k] if keep is None or lab in keep)
                for k in ("train", "test")}
    else:
        # Latin-1 with a few cp1252 bytes: 0x85 is an ellipsis there, not a line break (NEL)
        lines = [ln.replace("\x85", "...").strip() for ln in src.read_text(encoding="latin-1").split("\n")]
        lines = [ln for ln in lines if ln]
        held = [hashlib.blake2b(ln.encode("utf-8"), digest_size=8).digest()[0] % 5 == 0 for ln in lines]
        rows = {"train": "".join(ln + "\n" for ln, h in zip(lines, held) if not h),
                "test": "".join(ln + "\n" for ln, h in zip(lines, held) if h)}
    for path, key in ((train, "train"), (test, "test")):
        tmp = path.with_suffix(".tmp")
        tmp.write_text(rows[key], encoding="utf-8")
        os.replace(tmp, path)


def data_config(name: str, **extra):
    from lowdata.config import DataConfig

    d = dict(DATASETS[name])
    base = DATA
    d.pop("domain", None)
    if d.pop("split", None):
        bench_split(name)
        base = SPLITS
    for k in ("train", "dev", "test"):
        if d.get(k):
            d[k] = str(base / d[k])
    d.update(extra)
    return DataConfig(**d)


def named_backbones(specs: list[str]) -> dict:
    """--backbones values -> {name used in result keys: what the model loader gets}. A value is an alias or a
    path (`minilm`, `e5-small`, `/models/x`) or NAME=PATH, for a local model under a short key, e.g. the
    from-scratch Chinese BERT of pretrain_value.py: `zh-scratch=bench/cache/pt-zh/model`."""
    out = {}
    for s in specs:
        name, sep, path = s.partition("=")
        if sep and (not name or not path or "/" in name):
            raise SystemExit(f"--backbones {s!r}: expected NAME=PATH with a NAME free of '/'")
        if sep and not Path(path).is_dir():
            raise SystemExit(f"--backbones {s!r}: {path} is not a folder (a Hugging Face model directory)")
        out[name] = path if sep else s
    return out


def machine() -> dict:
    import torch
    import transformers

    from lowdata.hardware import bf16_fast

    # native_bf16: training runs under bf16 autocast by default (train.bf16) on such hardware, float32 elsewhere
    return {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
            "cpu": _cpu_model(), "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "torch": torch.__version__, "transformers": transformers.__version__,
            "native_bf16": bf16_fast("cuda" if torch.cuda.is_available() else "cpu")}


def _cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo; platform.processor() elsewhere): timings differ between VMs."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), platform.processor())
    except OSError:
        return platform.processor()


def load_results(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def save_results(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, path)


def gcn_pseudo_labels(splits: dict, seed: int, threshold: float = 0.9, model: str = "minilm", max_length: int = 64):
    """Round 0 of gcn_self_training: a GCN over the frozen encoder's (cached) embeddings of the labeled texts and the
    pool, its >= threshold predictions, class-balanced -> (pseudo-labeled TextData, their indices into the pool)."""
    from lowdata.ssl.embedding import cached_embed
    from lowdata.ssl.graph import graph_probs, seed_pseudo_labels

    tr, un = splits["train"], splits["unlabeled"]
    emb = tuple(cached_embed(d.texts, model, max_length) for d in (tr, un))
    P = graph_probs(tr, un, method="gcn", seed=seed, embeddings=emb)
    data, keep, _ = seed_pseudo_labels(tr, un, threshold=threshold, probs=P)
    return data, keep


def bf16_used(res: dict, asked: bool) -> bool:
    """Whether a run asked to use bf16 did: only on a machine whose results record native bf16 (machine())."""
    return res["machine"].get("native_bf16", False) and asked


def precision_label(side: tuple) -> str:
    """A speed bench's side ("lowdata", True) -> "lowdata bf16" (its loop, and whether under bf16 autocast)."""
    return f"{side[0]} {'bf16' if side[1] else 'float32'}"


def precision_ratios(rate: dict, fast: bool) -> dict:
    """lowdata / Trainer rates {(loop, bf16): rate} -> the ratio at equal precision (float32; bf16 too where the
    hardware has it natively) and each at its default (lowdata bf16 where native, the Trainer float32)."""
    ratios = {"float32, both": rate[("lowdata", False)] / rate[("trainer", False)]}
    if fast:
        ratios["bf16 autocast, both"] = rate[("lowdata", True)] / rate[("trainer", True)]
    ratios["each at its default"] = rate[("lowdata", fast)] / rate[("trainer", False)]
    return ratios


def print_ratios(ratios: dict, baseline: str) -> None:
    """The speed benches' ratio table: lowdata / `baseline` at each precision setting."""
    print(f"\n| speed-up lowdata / {baseline} | ratio |\n|---|---:|")
    for k, v in ratios.items():
        print(f"| {k} | {v:.2f}x |")
