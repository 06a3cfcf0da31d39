"""`lowdata auto --distill-to BACKBONE`: the chosen model taught to a smaller backbone for serving, or to its own.

    lowdata auto --train labeled.tsv --unlabeled pool.txt --backbones mpnet --distill-to minilm -o runs/auto

After the search and the final training, when the winner is inductive (it leaves a model), a student on BACKBONE
is fine-tuned from the pretrained encoder on all the labels plus the winner's class probabilities over the pool
(ssl.method=distill: Hinton, Vinyals & Dean 2015; the SetFit paper's section 6 puts a large few-shot teacher into a
small model the same way), with the setting measured in bench/backbones.py's distill-<backbone> and fixed before any
run there: STEPS steps of 8 labels + MU x 8 pool texts, T 1, weight 1, lr 5e-5 / head 1e-3. On the winner's own
backbone it is self-distillation, Furlanello et al. 2018's "born-again network" (their students are trained from
scratch; this one starts from the pretrained encoder, as the teacher did): measured on the design set MR with mpnet,
the students beat their SetFit-style teachers by 1.4 points on average (3 samples); on SST-2 by 1.76 (0.896,
5 samples, docs/numbers.md); this step with auto's own setfit+pl model as teacher: +1.18 on SST-2 (0.892).

Its accuracy, without another label: a seeded fifth of the pool (at most HOLD_OUT texts) is kept out of the
distillation, and there the student and the teacher disagree on a fraction d. On any set of texts |accuracy(student)
- accuracy(teacher)| <= the fraction where they disagree, so the student's accuracy is the teacher's within d; the
report widens the teacher's CV interval by the upper end of d's 95% Wilson interval on each side. A bound, not an
estimate: it is loose when they disagree on texts the teacher gets wrong. Also measured: each model's prediction
throughput over the held-out texts on this machine (same batch size). The distillation's time is outside --budget
(the budget covers the search and the final training); a resumed run keeps a finished student.
"""
from __future__ import annotations

import os
import time

import numpy as np

STEPS, MU, BATCH = 300, 4, 8  # bench/backbones.py: DISTILL_MU 4, --distill-steps 300, batch 8
HOLD_OUT = 1000


def split_pool(n: int, seed: int) -> tuple:
    """(distillation indices, held-out indices) of a pool of n texts: a seeded fifth, at most HOLD_OUT, held out."""
    perm = np.random.default_rng(seed + 7919).permutation(n)
    m = min(HOLD_OUT, n // 5)
    return np.sort(perm[m:]).tolist(), np.sort(perm[:m]).tolist()


def predict_labels(model_dir: str, texts: list[str], batch_size: int = 64) -> tuple:
    """(predicted label names, texts per second) of a lowdata classifier folder over raw texts."""
    import torch

    from ..backbone import TaskModel
    from ..batching import predict_probs

    model, tok, meta = TaskModel.load(model_dir)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    t0 = time.perf_counter()
    probs = predict_probs(model.to(device), tok, texts, meta["max_length"], batch_size, device)
    rate = len(texts) / max(1e-9, time.perf_counter() - t0)
    return [meta["labels"][i] for i in probs.argmax(-1).tolist()], rate


def overrides(teacher_dir: str) -> tuple:
    """The student's settings on top of auto's base config (its backbone is added by auto)."""
    return ("ssl.method=distill", f"ssl.teacher={teacher_dir}", f"ssl.mu={MU}", f"train.max_steps={STEPS}",
            f"train.batch_size={BATCH}", "train.lr=5e-5", "train.head_lr=1e-3")


def student(cfg, out: str, train, pool, test, teacher_interval, seed: int, resume: bool, say) -> dict:
    """Train the student (cfg: auto's base + overrides(), in <out>/student) on the labels + the teacher's
    probabilities over the pool's distillation part; -> its summary (a bound on its accuracy, the agreement, both
    models' speeds, its test score when a test file was given)."""
    from ..evaluate.card import wilson
    from . import train as train_method

    keep, held = split_pool(len(pool), seed)
    teacher_dir, backbone = cfg.ssl.teacher, cfg.model.name
    say(f"auto: distilling the winner into {backbone}: {STEPS} steps over {len(keep)} pool texts ({len(held)} held "
        f"out to measure agreement)")
    t0 = time.time()
    final = train_method(cfg, {"train": train, "dev": None, "test": test, "unlabeled": pool.subset(keep)},
                         resume=resume, overwrite=True)
    seconds = time.time() - t0
    texts = [pool.texts[i] for i in held]
    t_pred, t_rate = predict_labels(teacher_dir, texts)
    s_pred, s_rate = predict_labels(os.path.join(out, "student", "model"), texts)
    d = sum(a != b for a, b in zip(t_pred, s_pred))
    d_hi = wilson(d, len(texts))[1] if texts else 1.0  # the card's Wilson interval, as auto's
    lo, hi = teacher_interval
    res = {"backbone": backbone, "run": "student", "seconds": round(seconds, 1), "steps": STEPS,
           "pool": len(keep), "held_out": len(texts), "disagreement": d / max(1, len(texts)),
           "disagreement_upper": d_hi, "interval": [max(0.0, lo - d_hi), min(1.0, hi + d_hi)],
           "texts_per_s": {"teacher": round(t_rate, 1), "student": round(s_rate, 1)}}
    if test is not None and final.get("test"):
        res["test"] = {"accuracy": final["test"]["accuracy"], "macro_f1": final["test"]["macro_f1"]}
    return res


def describe(s: dict, teacher_backbone: str) -> str:
    """The report's paragraph on the student."""
    from ..backbone import resolve

    if "skipped" in s:
        return f"Distillation into {s['backbone']}: skipped ({s['skipped']})."
    lo, hi = s["interval"]
    same = resolve(s["backbone"]) == resolve(teacher_backbone)  # an alias and its full name are one backbone
    what = f"Self-distilled on {s['backbone']}" if same else f"Distilled into {s['backbone']}"
    out = (f"{what} (`student/`, {s['steps']} steps over {s['pool']:,} pool texts, "
           f"{s['seconds']:.0f} s): it disagrees with the {teacher_backbone} model on {100 * s['disagreement']:.1f}% "
           f"of {s['held_out']:,} held-out pool texts (at most {100 * s['disagreement_upper']:.1f}%, 95%), so its "
           f"accuracy lies in {lo:.3f}-{hi:.3f} (the final model's interval widened by that: a bound, no label "
           f"used)")
    rate = s["texts_per_s"]  # on its own backbone the student is no faster: no ratio given
    out += "." if same else (f"; it predicts {rate['student'] / max(1e-9, rate['teacher']):.1f}x as many texts per "
                             f"second on this machine ({rate['student']:.0f} vs {rate['teacher']:.0f}).")
    if s.get("test"):
        out += f" Test accuracy of the student: **{s['test']['accuracy']:.4f}**."
    return out
