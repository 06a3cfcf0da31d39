"""Sentence-vector throughput: float32 vs bf16 autocast (model.embed_bf16), each backbone, same texts, one process.

    python bench/embed_speed.py                               # 1,000 SST-2 test sentences, minilm e5-small mpnet
    python bench/embed_speed.py --backbones minilm --n 300    # quicker

What the frozen methods, the graphs, `lowdata select`'s pool and SetFit's head features compute:
lowdata.ssl.graph.embed (mean-pooled, L2-normalised, each text padded to its own length rounded up to 8, max_length
64). The encoder is loaded once per backbone (not timed); each precision is timed `--repeats` times in alternating
order and its best (minimum) time kept, as bench/train_speed.py does. Also printed: the smallest cosine between a
text's two vectors, and whether a logistic regression fitted on the first half of the texts' float32 vectors
labels the second half the same from the bf16 ones (SST-2 labels; the accuracy cost itself, paired over samples,
is bench/backbones.py --embed-bf16 against its float32 runs). Without native bf16 (lowdata.hardware.bf16_fast) the
two are the same computation, and the script says so. Writes bench/results/embed_speed-<cpu|gpu>.json.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, RESULTS, machine, save_results  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbones", nargs="+", default=["minilm", "e5-small", "mpnet"])
    ap.add_argument("--n", type=int, default=1000, help="SST-2 test sentences (the first n)")
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression

    from lowdata.data import read
    from lowdata.hardware import bf16_fast
    from lowdata.ssl.graph import embed, load_for_embedding

    test = read(str(DATA / "sst2" / "stsa.binary.test"), format="label_text")
    texts, y = test.texts[: a.n], np.array(test.labels[: a.n])
    fast = bf16_fast("cuda" if torch.cuda.is_available() else "cpu")
    rows = {}
    for name in a.backbones:
        pair = load_for_embedding(name)
        embed(texts[:64], encoder=pair, max_length=a.max_length)  # warm-up (thread pools, oneDNN kernels)
        embed(texts[:64], encoder=pair, max_length=a.max_length, bf16=True)
        times, vecs = {False: [], True: []}, {}
        for r in range(a.repeats):
            for bf16 in ((False, True) if r % 2 == 0 else (True, False)):
                t0 = time.perf_counter()
                vecs[bf16] = embed(texts, encoder=pair, max_length=a.max_length, bf16=bf16)
                times[bf16].append(time.perf_counter() - t0)
                print(f"{name} repeat {r} {'bf16' if bf16 else 'float32'}: {times[bf16][-1]:.1f}s", flush=True)
        half = len(texts) // 2
        clf = LogisticRegression(max_iter=2000).fit(vecs[False][:half], y[:half])
        same = float(np.mean(clf.predict(vecs[False][half:]) == clf.predict(vecs[True][half:])))
        rows[name] = {"float32_s": min(times[False]), "bf16_s": min(times[True]),
                      "texts_per_s": {"float32": len(texts) / min(times[False]), "bf16": len(texts) / min(times[True])},
                      "ratio": min(times[False]) / min(times[True]),
                      "min_cosine": float((vecs[False] * vecs[True]).sum(1).min()), "lr_label_agreement": same}
    print(f"\n{len(texts)} SST-2 test sentences, max_length {a.max_length}, {machine()['cpu']}, native bf16: {fast}"
          f"{'' if fast else ' (so both rows run float32)'}; best of {a.repeats}\n")
    print("| backbone | float32 texts/s | bf16 texts/s | bf16 / float32 | min cosine | LR labels agree |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in rows.items():
        print(f"| {name} | {r['texts_per_s']['float32']:.1f} | {r['texts_per_s']['bf16']:.1f} | {r['ratio']:.2f}x | "
              f"{r['min_cosine']:.6f} | {r['lr_label_agreement']:.1%} |")
    save_results(RESULTS / f"embed_speed-{'gpu' if torch.cuda.is_available() else 'cpu'}.json",
                 {"args": vars(a), "machine": machine(), "native_bf16": fast, "backbones": rows})


if __name__ == "__main__":
    main()
