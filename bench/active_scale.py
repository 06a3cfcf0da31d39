"""Selection at scale: every query strategy over a pool of 100k real English texts (cached vectors), time and peak
memory each, and the streaming path over 1M rows.

    python bench/active_scale.py                    # 100k texts: embeds once (cached, ~15 min on 2 cores), then times
    python bench/active_scale.py --million          # also 1M rows (see below)

The pool: every distinct text of the English sets in ../shared/data (GoEmotions, CLINC150, SST-5/SST-2, MR, SUBJ,
AG News, BANKING77, TREC, and WikiText-2 / Austen sentences to make up the rest), the first --pool by a hash of the
text. Vectors: MiniLM, max_length 64, streamed to disk by lowdata.active.pool (embedding is outside the timed part,
as the goal says "with cached embeddings"). The uncertainty strategies read a frozen-LR surrogate fitted on 200 AG
News texts with their labels (4 classes): only the time matters here, not which texts are picked. Each strategy
runs in its own process so its peak RSS (ru_maxrss) is its own; n = --n texts selected. 1M rows: embedding 1M texts
on 2 cores takes hours, so the 1M-row memmap is the 100k real vectors tiled 10x with small Gaussian noise
(renormalised); it measures the selection's time and memory at that size, not its choices (said in the output).
Writes bench/results/active_scale.json.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, RESULTS, ROOT, machine, save_results  # noqa: E402

STRATEGIES = ["random", "kmeans", "typiclust", "least_confidence", "margin", "entropy", "committee", "coreset", "badge"]


def english_texts() -> list[str]:
    from lowdata.data import read

    out = []
    g = DATA / "goemotions" / "original"
    for f in ("train.tsv", "dev.tsv", "test.tsv"):
        out += [ln.split("\t")[0] for ln in (g / f).read_text(encoding="utf-8").splitlines() if ln.strip()]
    clinc = json.loads((DATA / "clinc150" / "data_full.json").read_text())
    out += [t for part in clinc.values() for t, _ in part]
    for f, fmt in (("sst5/stsa.fine.train", "label_text"), ("sst5/stsa.fine.test", "label_text"),
                   ("sst2/stsa.binary.train", "label_text"), ("mr/rt-polarity.all", "label_text"),
                   ("subj/subj.all", "label_text"), ("agnews/dev.tsv", "tsv"), ("agnews/test.tsv", "tsv"),
                   ("banking77/train.csv", "csv"), ("banking77/test.csv", "csv")):
        out += read(str(DATA / f), format=fmt, encoding="latin-1" if "subj" in f or "mr/" in f else "utf-8").texts
    out += read(str(DATA / "trec/TREC.train.all"), format="label_text", encoding="latin-1").texts
    prose = (DATA / "wikitext-2" / "valid.txt").read_text(encoding="utf-8") + \
        (DATA / "wikitext-2" / "test.txt").read_text(encoding="utf-8")
    for p in sorted((DATA / "gutenberg-austen").glob("*.txt")):
        prose += "\n" + p.read_text(encoding="utf-8", errors="replace")
    out += [s.strip() for s in re.split(r"(?<=[.!?])\s+", " ".join(prose.split())) if 20 <= len(s.strip()) <= 400]
    seen, uniq = set(), []
    for t in out:
        t = " ".join(t.split())
        if t and t not in seen:
            seen.add(t)
            uniq.append(t)
    return uniq


def worker(a) -> None:
    """One strategy on the saved vectors: prints a JSON line with seconds and peak RSS."""
    import numpy as np

    from lowdata.active import select

    X = np.load(a.vectors, mmap_mode="r")
    lab = np.load(a.labeled)
    t0 = time.time()
    idx, _ = select(a.worker, X, a.n, X_l=lab["X"], y_l=lab["y"], n_classes=4, seed=0)
    print(json.dumps({"strategy": a.worker, "seconds": time.time() - t0, "selected": len(set(idx.tolist())),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pool", type=int, default=100_000)
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--million", action="store_true")
    p.add_argument("--strategies", nargs="+", default=STRATEGIES)
    p.add_argument("--worker")
    p.add_argument("--vectors")
    p.add_argument("--labeled")
    a = p.parse_args()
    if a.worker:
        return worker(a)
    import numpy as np

    from lowdata.active.pool import pool_vectors
    from lowdata.data import read

    texts = english_texts()
    if len(texts) < a.pool:
        sys.exit(f"only {len(texts)} distinct texts for a pool of {a.pool}")
    texts = sorted(texts, key=lambda t: hashlib.blake2b(t.encode(), digest_size=8).digest())[: a.pool]
    t0 = time.time()
    X = pool_vectors(texts, "minilm", 64)
    embed_s = time.time() - t0
    ag = read(str(DATA / "agnews/dev.tsv"), format="tsv")
    rng = np.random.default_rng(0)
    pick = rng.permutation(len(ag))[:200]
    from lowdata.ssl.embedding import cached_embed

    names = ag.label_set()
    work = ROOT / "runs" / "bench-active-scale"
    work.mkdir(parents=True, exist_ok=True)
    np.savez(work / "labeled.npz", X=cached_embed([ag.texts[i] for i in pick], "minilm", 64),
             y=np.array([names.index(ag.labels[i]) for i in pick]))
    sizes = {"100k": X.filename}
    if a.million:
        big = work / "X1m.npy"
        if not big.exists():
            from numpy.lib.format import open_memmap

            M = open_memmap(str(big) + ".tmp.npy", mode="w+", dtype=np.float32, shape=(10 * len(X), X.shape[1]))
            for r in range(10):
                v = np.asarray(X) + 0.02 * rng.standard_normal(X.shape).astype(np.float32)
                M[r * len(X):(r + 1) * len(X)] = v / np.linalg.norm(v, axis=1, keepdims=True)
            M.flush()
            del M
            os.replace(str(big) + ".tmp.npy", big)
        sizes["1M (100k real vectors tiled 10x + noise)"] = str(big)
    rows = {}
    for size, path in sizes.items():
        for s in a.strategies:
            r = subprocess.run([sys.executable, __file__, "--worker", s, "--vectors", path, "--labeled",
                                str(work / "labeled.npz"), "--n", str(a.n)], capture_output=True, text=True)
            if r.returncode:
                print(r.stderr[-2000:], file=sys.stderr)
                continue
            rows.setdefault(size, {})[s] = json.loads(r.stdout.strip().splitlines()[-1])
            print(f"{size} {s}: {rows[size][s]['seconds']:.1f}s, peak RSS {rows[size][s]['peak_rss_mb']:.0f} MB",
                  flush=True)
    out = {"pool": a.pool, "n": a.n, "embed_seconds_this_run": embed_s, "dim": int(X.shape[1]),
           "vectors_mb": X.nbytes / 2**20, "machine": machine(),
           "commit": os.popen(f"git -C {ROOT} rev-parse --short HEAD").read().strip(), "results": rows}
    save_results(RESULTS / "active_scale.json", out)
    print("\n| strategy | " + " | ".join(f"{s}: seconds / peak RSS MB" for s in rows) + " |")
    print("|---|" + "---:|" * len(rows))
    for s in a.strategies:
        print(f"| {s} | " + " | ".join(f"{rows[z][s]['seconds']:.1f} / {rows[z][s]['peak_rss_mb']:.0f}"
                                       if s in rows[z] else "-" for z in rows) + " |")


if __name__ == "__main__":
    main()
