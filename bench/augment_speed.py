"""Augmentation throughput: lowdata vs nlpaug, same 2,000 SST-2 sentences, same run, same settings.

    python bench/augment_speed.py               # word/char ops on 2,000 sentences; MLM refill on --mlm-n of them

Ops and matched settings (one variant per sentence, probability/fraction 0.1 unless noted):
  EDA synonym (WordNet)   lowdata synonym:alpha=0.1   vs nlpaug SynonymAug(aug_src=wordnet, aug_p=0.1)
  random swap             lowdata swap:alpha=0.1      vs nlpaug RandomWordAug(action=swap, aug_p=0.1)
  random delete           lowdata delete:alpha=0.1    vs nlpaug RandomWordAug(action=delete, aug_p=0.1)
  keyboard noise          lowdata keyboard:p=0.05     vs nlpaug KeyboardAug(aug_char_p=0.05)  (its defaults otherwise)
  MLM refill (batched)    lowdata mlm_refill p=0.15, top_k=20, batch 32 vs nlpaug ContextualWordEmbsAug(substitute,
                          aug_p=0.15, top_k=20, batch_size=32); same model: all-MiniLM-L6-v2 with a fresh MLM head
                          (the compute is the real model's; the refills are not meaningful without `lowdata pretrain`).
                          lowdata runs the model in bf16 where the CPU has AVX512-BF16/AMX (dtype="auto", its
                          default); a second row gives lowdata in float32, the same precision as nlpaug.
Both sides read the same WordNet 3.0 files through nltk. Shims needed to run nlpaug 1.1.11 here, each of which can
only make nlpaug faster: its POS tagger is replaced by "no tag" (the tagger model is a download; untagged words
look up every part of speech), and two tokenizer method names removed in transformers 5 are aliased.
Each timing is the best of --repeats. Prints a table, writes bench/results/augment_speed.json.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, RESULTS, machine, save_results  # noqa: E402


def best(fn, texts, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(texts)
        times.append(time.perf_counter() - t0)
    return len(texts) / min(times)


def setup_nlpaug(wordnet):
    import nlpaug.augmenter.char as nac
    import nlpaug.augmenter.word as naw
    from transformers import BertTokenizer

    nwn = sys.modules["nlpaug.model.word_dict.wordnet"]  # the package re-exports nltk's `wordnet` over the module

    nwn.wordnet = wordnet  # the same reader lowdata uses (no nltk download)
    nwn.WordNet.pos_tag = classmethod(lambda cls, tokens: [(t, "") for t in tokens])
    BertTokenizer._convert_token_to_id = lambda self, t: self.convert_tokens_to_ids(t)
    BertTokenizer._convert_id_to_token = lambda self, i: self.convert_ids_to_tokens(i)
    return naw, nac


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--mlm-n", type=int, default=300, help="sentences for the MLM rows (both sides)")
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    os.environ.setdefault("LOWDATA_WORDNET", str(DATA / "wordnet-3.0"))

    from lowdata.augment import build
    from lowdata.augment.lexicon import wordnet
    from lowdata.data import read

    texts = read(str(DATA / "sst2" / "stsa.binary.train"), format="label_text").texts[: a.n]
    naw, nac = setup_nlpaug(wordnet())
    rows = []

    def lowdata_fn(spec):
        aug = build(spec, seed=0, n=1)
        return lambda ts: aug(ts)

    cases = [
        ("EDA synonym (WordNet)", "synonym:alpha=0.1", naw.SynonymAug(aug_src="wordnet", aug_p=0.1)),
        ("random swap", "swap:alpha=0.1", naw.RandomWordAug(action="swap", aug_p=0.1)),
        ("random delete", "delete:alpha=0.1", naw.RandomWordAug(action="delete", aug_p=0.1)),
        ("keyboard noise", "keyboard:p=0.05", nac.KeyboardAug(aug_char_p=0.05)),
    ]
    for name, spec, nl in cases:
        lowdata_fn(spec)(texts[:50])  # warm caches on both sides (synonym lookups are cached by both)
        nl.augment(texts[:50])
        lo = best(lowdata_fn(spec), texts, a.repeats)
        ref = best(lambda ts: nl.augment(ts), texts, a.repeats)
        rows.append({"op": name, "n": len(texts), "lowdata": lo, "nlpaug": ref, "ratio": lo / ref, "goal": 10})
        print(f"{name}: lowdata {lo:.0f}/s, nlpaug {ref:.0f}/s, {lo / ref:.1f}x", flush=True)

    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from lowdata.backbone import resolve

    hf_logging.set_verbosity_error()
    with tempfile.TemporaryDirectory() as d:
        AutoModelForMaskedLM.from_pretrained(resolve("minilm")).save_pretrained(d)
        AutoTokenizer.from_pretrained(resolve("minilm")).save_pretrained(d)
        sub = texts[: a.mlm_n]
        lo_aug = build(f"mlm_refill:model={d},p=0.15,top_k=20,batch_size=32", seed=0, n=1)
        nl_aug = naw.ContextualWordEmbsAug(model_path=d, model_type="bert", action="substitute", aug_p=0.15,
                                           top_k=20, batch_size=32, device="cpu")
        lo_aug(sub[:8])
        nl_aug.augment(sub[:8])
        lo = best(lo_aug, sub, a.repeats)
        ref = best(lambda ts: nl_aug.augment(ts), sub, a.repeats)
        rows.append({"op": f"MLM refill (batched, {'bf16' if lo_aug._model.dtype == torch.bfloat16 else 'fp32'})",
                     "n": len(sub), "lowdata": lo, "nlpaug": ref, "ratio": lo / ref, "goal": 50})
        print(f"MLM refill: lowdata {lo:.1f}/s, nlpaug {ref:.1f}/s, {lo / ref:.1f}x", flush=True)
        if lo_aug._model.dtype != torch.float32:
            fp = build(f"mlm_refill:model={d},p=0.15,top_k=20,batch_size=32,dtype=float32", seed=0, n=1)
            fp(sub[:8])
            lo32 = best(fp, sub, a.repeats)
            rows.append({"op": "MLM refill (batched, fp32)", "n": len(sub), "lowdata": lo32, "nlpaug": ref,
                         "ratio": lo32 / ref, "goal": 50})
            print(f"MLM refill fp32: lowdata {lo32:.1f}/s, {lo32 / ref:.1f}x", flush=True)

    print(f"\nSST-2 train sentences, 1 variant each, CPU ({os.cpu_count()} cores), best of {a.repeats}\n")
    print("| op | sentences | lowdata sent/s | nlpaug sent/s | speed-up | goal |\n|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['op']} | {r['n']} | {r['lowdata']:.1f} | {r['nlpaug']:.1f} | {r['ratio']:.1f}x | {r['goal']}x |")
    save_results(RESULTS / "augment_speed.json", {"args": vars(a), "machine": machine(), "rows": rows})


if __name__ == "__main__":
    main()
