"""Robustness under attack with and without adversarial training (FGM, PGD, FreeLB): same data, seed, settings.

    python bench/robustness.py                                  # CPU: SST-2, 500 labeled per class (subsample)
    python bench/robustness.py --per-class 0 --attack-n 1821    # full training set, whole test set (GPU script)

Each arm fine-tunes MiniLM (mean pooling, max_length 64, lr 5e-5, head 1e-3, batch 32, --epochs, early stopping
on the SST-2 dev set) on the same sample; `lowdata.robust.attack` then attacks the same --attack-n test sentences
(seeded sample) with the synonym recipe (WordNet) and the typo recipe (one-character edits), at most 20% of the
words changed. Adversarial settings are the defaults of lowdata.robust.adversarial (FGM eps 1; PGD eps 1, alpha
0.3, K 3; FreeLB alpha 0.1, K 3). Resumable: each finished arm is stored in bench/results/robustness-*.json.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, RESULTS, data_config, load_results, machine, save_results  # noqa: E402

ARMS = ("none", "fgm", "pgd", "freelb")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-class", type=int, default=500, help="labeled per class (0 = all 6,920)")
    ap.add_argument("--attack-n", type=int, default=200)
    ap.add_argument("--arms", nargs="+", default=list(ARMS))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    os.environ.setdefault("LOWDATA_WORDNET", str(DATA / "wordnet-3.0"))

    from lowdata.config import AdversarialConfig, Config, ModelConfig, TrainConfig
    from lowdata.data import read
    from lowdata.robust.attack import Victim, attack
    from lowdata.methods.finetune import run

    setting = f"sst2-{'full' if not a.per_class else f'k{a.per_class}'}-seed{a.seed}"
    path = RESULTS / f"robustness-{setting}.json"
    res = load_results(path) or {"setting": setting, "args": vars(a), "machine": machine(), "arms": {}}
    test = read(str(DATA / "sst2" / "stsa.binary.test"), format="label_text")
    idx = sorted(random.Random(a.seed).sample(range(len(test.texts)), min(a.attack_n, len(test.texts))))
    texts, labels = [test.texts[i] for i in idx], [test.labels[i] for i in idx]
    for arm in a.arms:
        if arm in res["arms"]:
            print(f"{arm}: done already")
            continue
        dc = data_config("sst2", k_per_class=a.per_class or None, sample_seed=a.seed)
        with tempfile.TemporaryDirectory() as out:
            cfg = Config(data=dc, model=ModelConfig(name="minilm", max_length=64),
                         train=TrainConfig(epochs=a.epochs, batch_size=32, lr=5e-5, head_lr=1e-3, patience=2,
                                           seed=a.seed, progress=False, report_to=[], save_every=0),
                         adversarial=AdversarialConfig(method=None if arm == "none" else arm), output_dir=out)
            t0 = time.time()
            m = run(cfg)
            train_s = time.time() - t0
            victim = Victim.load(os.path.join(out, "model"))
            row = {"test_accuracy": m["test"]["accuracy"], "n_train": m["n_train"], "steps": m["steps"],
                   "train_seconds": round(train_s, 1)}
            for recipe in ("synonym", "typo"):
                t1 = time.time()
                s = attack(victim, texts, labels, recipe=recipe, max_rate=0.2, seed=a.seed, progress=False)["summary"]
                row[recipe] = {**s, "seconds": round(time.time() - t1, 1)}
        res["arms"][arm] = row
        save_results(path, res)
        print(f"{arm}: test {row['test_accuracy']:.4f}, under synonym attack {row['synonym']['accuracy_under_attack']:.4f}"
              f", under typo attack {row['typo']['accuracy_under_attack']:.4f} ({train_s:.0f}s training)", flush=True)
    print(f"\nSST-2, {setting} ({'all training sentences' if not a.per_class else f'{a.per_class} per class sampled'}),"
          f" {len(idx)} test sentences attacked (seeded sample), at most 20% of words changed\n")
    print("| training | test accuracy | attacked sample: clean | synonym attack | typo attack | train s |\n"
          "|---|---:|---:|---:|---:|---:|")
    for arm in a.arms:
        r = res["arms"].get(arm)
        if r:
            print(f"| {arm} | {r['test_accuracy']:.4f} | {r['synonym']['accuracy']:.4f} | "
                  f"{r['synonym']['accuracy_under_attack']:.4f} | {r['typo']['accuracy_under_attack']:.4f} | "
                  f"{r['train_seconds']:.0f} |")


if __name__ == "__main__":
    main()
