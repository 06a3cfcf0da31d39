"""Shared bits of the benchmarks: where the data is (one setting: LOWDATA_DATA), named datasets, result files."""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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
}


def data_config(name: str, **extra):
    from lowdata.config import DataConfig

    d = dict(DATASETS[name])
    for k in ("train", "dev", "test"):
        if d.get(k):
            d[k] = str(DATA / d[k])
    d.update(extra)
    return DataConfig(**d)


def machine() -> dict:
    import torch
    import transformers

    return {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
            "cpu": _cpu_model(), "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "torch": torch.__version__, "transformers": transformers.__version__}


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
