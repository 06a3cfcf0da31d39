"""`lowdata auto` as a user runs it: the CLI, every candidate (frozen, graph, SetFit-style, fine-tuning, LP-FT, EDA,
FGM, GCN-seeded self-training), the labeled draw of bench/backbones.py and the rest of the training file as the pool
(auto samples --max-pool of it), within a time budget on this machine. Resumable (one result per dataset/seed).

    python bench/auto_full.py --datasets sst2 --seeds 0 --budget 30      # issue 22: "within 30 minutes on 2 cores"
    python bench/auto_full.py --datasets sst2 --backbones mpnet --embed-bf16 --results auto-full-mpnet   # strongest
    python bench/auto_full.py --datasets sst2 --backbones mpnet --embed-bf16 --distill-to minilm ...  # + a student

Records the wall-clock time of the whole command (process start to exit: loading, encoding, every fold, the final
training and the test), the chosen recipe, the CV estimate and its interval, the test accuracy on a fixed draw of
--test-sample texts, and every candidate's CV accuracy and status. Writes bench/results/<--results>.json (default
auto-full).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backbones import DESIGN, K, MORE  # noqa: E402
from common import COMMIT, RESULTS, ROOT, data_config, load_results, machine, save_results  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["sst2"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--budget", type=float, default=30.0, help="minutes")
    ap.add_argument("--backbones", nargs="+", default=["minilm"])
    ap.add_argument("--test-sample", type=int, default=1000)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--results", default="auto-full", help="bench/results/<name>.json")
    ap.add_argument("--embed-bf16", action="store_true", help="model.embed_bf16=true: the frozen candidates' and the "
                    "pool's sentence vectors under bf16 autocast where the hardware runs it natively")
    ap.add_argument("--distill-to", help="lowdata auto --distill-to: also record the student's test accuracy, its "
                    "label-free bound and its prediction speed")
    a = ap.parse_args()
    path = RESULTS / f"{a.results}.json"
    k_of = {**K, **MORE, **DESIGN}
    res = load_results(path) or {"machine": machine(), "runs": {}}
    for ds in a.datasets:
        d = data_config(ds)  # the dataset's files, made splits included
        for seed in a.seeds:
            key = f"{ds}/{seed}/{'+'.join(a.backbones)}/{a.budget:g}min" + (f"/to-{a.distill_to}" if a.distill_to
                                                                              else "")
            if key in res["runs"]:
                continue
            out = ROOT / "runs" / f"bench-{a.results}" / key.replace("/", "-")
            cmd = [sys.executable, "-m", "lowdata.cli", "auto", "--train", d.train, "--test", d.test,
                   "--budget", str(a.budget), "-o", str(out), "--seed", str(seed),
                   "--backbones", *a.backbones, "--no-progress", "--overwrite", f"data.format={d.format}",
                   f"data.k_per_class={k_of[ds]}", f"data.test_sample={a.test_sample}",
                   f"model.max_length={a.max_length}", f"data.encoding={d.encoding}",
                   f"model.embed_bf16={str(a.embed_bf16).lower()}",
                   *(["--distill-to", a.distill_to] if a.distill_to else [])]
            t0 = time.time()
            p = subprocess.run(cmd, capture_output=True, text=True)
            wall = time.time() - t0
            if p.returncode:
                print(p.stdout, p.stderr, file=sys.stderr)
                raise SystemExit(f"{key}: lowdata auto failed ({p.returncode})")
            r = json.loads((out / "metrics.json").read_text())
            res["runs"][key] = {"wall_seconds": round(wall, 1), "budget_seconds": 60 * a.budget, "commit": COMMIT,
                                "embed_bf16": a.embed_bf16,
                                "chosen": f"{r['chosen']['recipe']}|{r['chosen']['backbone']}",
                                "cv": r["estimate"]["accuracy"], "interval": r["estimate"]["interval"],
                                "test": r["test"]["accuracy"], "n_test": r["test"]["n"], "labels": r["labels"],
                                "pool": r.get("pool"), "student": r.get("student"), "candidates": [
                                    {k: c.get(k) for k in ("recipe", "backbone", "cv_accuracy", "status",
                                                           "seconds_per_cell", "cells")} for c in r["candidates"]]}
            save_results(path, res)
            lo, hi = r["estimate"]["interval"]
            print(f"{key}: {r['chosen']['recipe']} on {r['chosen']['backbone']}, CV {r['estimate']['accuracy']:.3f} "
                  f"[{lo:.3f}, {hi:.3f}], test {r['test']['accuracy']:.4f}, {wall / 60:.1f} min wall "
                  f"(budget {a.budget:g})", flush=True)
            st = r.get("student") or {}
            if "interval" in st:
                print(f"    student on {st['backbone']}: test {st.get('test', {}).get('accuracy', float('nan')):.4f}, "
                      f"bound [{st['interval'][0]:.3f}, {st['interval'][1]:.3f}], disagreement "
                      f"{st['disagreement']:.3f}, {st['seconds']:.0f} s, {st['texts_per_s']}", flush=True)
            for c in r["candidates"]:
                cv = f"{c['cv_accuracy']:.3f}" if "cv_accuracy" in c else "-"
                print(f"    {c['recipe']:<20} {c['backbone']:<9} CV {cv}  {c['status']}", flush=True)


if __name__ == "__main__":
    main()
