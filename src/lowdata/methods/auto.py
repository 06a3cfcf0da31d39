"""`lowdata auto`: choose the recipe for these labels by cross-validation inside them, then train it on all of them.

    lowdata auto --train labeled.tsv [--unlabeled pool.txt] [--test test.tsv] --budget 30 -o runs/auto
    from lowdata.methods.auto import auto;  result = auto(base_cfg, splits, budget_s=1800, out="runs/auto")

Every label counts (Perez, Kiela & Cho 2021, "True Few-Shot Learning with Language Models"): the labeled file is
all there is. Each candidate recipe (RECIPES: frozen LR with three regularisation strengths, label spreading, a GCN,
SetFit-style, fine-tuning, LP-FT, fine-tuning on EDA copies, fine-tuning with FGM, GCN-seeded self-training; times
each backbone asked for) is scored by repeated
stratified k-fold cross-validation on the labeled examples: a held-out fold's labels are never read by any part of
the method; methods that use the unlabeled pool keep using it, and for the transductive graph methods the held-out
texts join the graph as unlabeled nodes, as any test text would. Cheap candidates run first (frozen encoder:
seconds, the embeddings are cached), then the tuned ones, each only if its estimated time still fits the budget with
the final training reserved (before any tuned cell of a backbone, its rate is a few training steps measured on
this machine, auto_rate.py; a candidate priced by that alone waits for the next tuned candidate of its backbone to
measure a cell's rate). Successive halving (Jamieson & Talwalkar 2016): after the first repeat of folds, the
better half gets the next repeat, and so on. The winner (choose()): by default prior_se, the one-standard-error
rule (the first candidate in an order within one standard error, paired over folds, of the best mean CV accuracy
among the candidates of the last rung) with the design sets' best recipe, SetFit-style, first in the order and the
registry's order (cheapest first) after it; halving keeps SetFit-style to the last repeat. Designed on MR and Pros &
Cons (bench/auto_grid.py, bench/auto_rules.py), never tuned on a benchmark's test set. It is retrained on all
labels (with the pool) in <out>/final, and its worth in labels versus plain fine-tuning is estimated inside the
labels (auto_worth.py).

The CV estimate is of a model trained on (k-1)/k of the labels, and the best of several
estimates is optimistic (the winner's curse); the report says both. Output: report.md, report.html, auto.json
(every cell), final/ (the winner's run directory, with model/ when the recipe is inductive), student/ with
distill_to (auto_distill.py). Resumable: finished cells are kept in auto.json and skipped.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
import types
from dataclasses import dataclass

import numpy as np

from .. import runs
from ..errors import ConfigError


@dataclass(frozen=True)
class Recipe:
    name: str
    overrides: tuple          # key=value overrides on the base config
    tuned: bool               # the encoder is trained (minutes) or frozen (seconds, cached embeddings)
    uses_pool: bool           # needs unlabeled texts
    inductive: bool = True    # leaves a model that labels new texts (graph methods label the texts they saw)


RECIPES = (
    Recipe("frozen_lr C=1", ("ssl.method=frozen_lr", "frozen.C=1.0"), False, False),
    Recipe("frozen_lr C=10", ("ssl.method=frozen_lr", "frozen.C=10.0"), False, False),
    Recipe("frozen_lr C=100", ("ssl.method=frozen_lr", "frozen.C=100.0"), False, False),
    Recipe("label_spreading", ("ssl.method=label_spreading",), False, True, inductive=False),
    Recipe("gcn", ("ssl.method=gcn",), False, True, inductive=False),
    # SetFit-style through the frozen path (tune_encoder, then the regression): the same tuning and head as the
    # fine-tuning path's contrastive.pairs + epochs 0, and its tuned encoder is shared with setfit+pl's on a fold
    Recipe("setfit", ("contrastive.pairs=20", "train.epochs=0", "ssl.method=frozen_lr"), True, False),
    # + one round of GCN pseudo-labels over the labels and the pool for the regression (frozen.pseudo_labels)
    Recipe("setfit+pl", ("contrastive.pairs=20", "train.epochs=0", "ssl.method=frozen_lr",
                         "frozen.pseudo_labels=gcn"), True, True),
    Recipe("finetune", ("train.epochs=20",), True, False),
    Recipe("lp_ft", ("train.epochs=20", "train.lp_init=true"), True, False),
    # augmentation and adversarial training on top of fine-tuning. EDA (Wei & Zou 2019) with alpha 0.1 and 4 copies
    # per text: the paper's table advises 16 copies at alpha 0.05 below 500 texts; 4 keeps a cell's cost at 5x
    # fine-tuning's. FGM (Miyato et al. 2017) at eps 1.0 on the word embeddings: about 2x fine-tuning's cost.
    Recipe("finetune+eda", ("train.epochs=20", 'augment.specs=["eda:alpha=0.1,n=4"]'), True, False),
    Recipe("finetune+fgm", ("train.epochs=20", "adversarial.method=fgm"), True, False),
    Recipe("gcn_self_training", ("ssl.method=self_training", "self_training.seed_graph=gcn", "self_training.rounds=2",
                                 "train.epochs=4"), True, True),
)
# A tuned cell's time is guessed as (examples passed through the encoder) x (seconds per example on the backbone),
# the latter learnt from every finished tuned cell of that backbone; before any: measured (auto_rate.py, a few
# training steps at the start of the run, kept in auto.json). Until session 35 a table of 2-core float32 CPU times
# (MiniLM 0.05, e5-small 0.18, mpnet 0.4 s), 5-8x too slow for a bf16 CPU and ~100x for a GPU.
FROZEN_PRIOR_S = 10.0


def _examples(r: Recipe, n: int, pool: int, shared: bool = False) -> float:
    """Examples a tuned recipe passes through the encoder for n training texts (one fold); shared: setfit+pl's
    tuning is setfit's on the same fold (contrastive.reuse_dir), so only the pool's encoding is left."""
    from ..config import FrozenConfig

    pooled = min(pool, FrozenConfig.pseudo_max_pool) / 3  # setfit+pl's pool through the tuned encoder, forward only
    if r.name in SHARES and shared:
        return pooled
    if r.name in PAIRED:  # 20 positive + 20 negative pairs per text, two texts a pair
        return n * 20 * 2 * 2 + (pooled if r.uses_pool else 0)
    if r.name == "gcn_self_training":
        return 2 * 4 * (n + pool / 2)  # 2 rounds x 4 epochs over the labels and about half the pool
    if r.name == "finetune+eda":
        return n * 5 * 20  # each text and its 4 copies, 20 epochs
    if r.name == "finetune+fgm":
        return n * 2 * 20  # a second forward+backward on the perturbed embeddings each step
    return n * 20  # 20 epochs


def folds(y: list, k: int, repeats: int, seed: int) -> list:
    """-> [(repeat, fold, train indices, held-out indices)] of repeated stratified k-fold."""
    from sklearn.model_selection import RepeatedStratifiedKFold

    rskf = RepeatedStratifiedKFold(n_splits=k, n_repeats=repeats, random_state=seed)
    return [(i // k, i % k, tr, te) for i, (tr, te) in enumerate(rskf.split(np.zeros(len(y)), y))]


def wilson(correct: float, n: int, z: float = 1.96) -> tuple:
    """Wilson score interval of a proportion correct/n (evaluate.card's); no data: the whole of [0, 1]."""
    from ..evaluate.card import wilson as interval

    return (0.0, 1.0) if n == 0 else interval(correct, n, z)


def _cfg(base, recipe: Recipe, backbone: str, out: str):
    """The base config's settings + the recipe's overrides + the backbone, validated as any config is."""
    from ..config import load_config

    return load_config(None, [*_overrides_of(base), *recipe.overrides, f"model.name={backbone}", f"output_dir={out}"])


def _overrides_of(base) -> list:
    """The base config's train/model settings as overrides (the auto base: data paths are passed as splits)."""
    keep = {"model": ("max_length", "pooling", "dropout", "embed_bf16"),
            "train": ("batch_size", "lr", "head_lr", "seed", "progress", "report_to", "eval_batch_size", "bf16",
                      "cpu")}
    out = []
    for sec, keys in keep.items():
        obj = getattr(base, sec)
        for k in keys:
            if hasattr(obj, k):
                v = getattr(obj, k)
                out.append(f"{sec}.{k}={json.dumps(v) if isinstance(v, (list, bool)) or v is None else v}")
    return out + ["train.save_every=0", "train.patience=0"]


def _digest(base, cands) -> str:
    """A digest of the base config and the candidates' overrides: a resumed run reuses no cell computed under other
    settings (a changed default included, as frozen.pseudo_weighting's in session 23)."""
    import dataclasses
    import hashlib

    what = {k: v for k, v in dataclasses.asdict(base).items() if k != "output_dir"}
    what["train"] = {k: v for k, v in what["train"].items() if k not in ("progress", "report_to")}
    what["recipes"] = [[r.name, b, list(r.overrides)] for r, b in cands]
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Cells:
    """auto.json: every finished cell (recipe x backbone x repeat x fold), written atomically after each."""

    def __init__(self, path: str, settings: dict, fresh: bool = False):
        """fresh (--overwrite): the stored cells are not read; the first save replaces them."""
        self.path, self.settings, self.cells, self.rates = path, settings, {}, {}
        if os.path.exists(path) and not fresh:
            with open(path, encoding="utf-8") as f:
                old = json.load(f)
            if old.get("settings") == settings:
                self.cells, self.rates = old.get("cells", {}), old.get("rates", {})

    def save(self, **extra):
        runs.write_json(self.path, {"settings": self.settings, "cells": self.cells, "rates": self.rates, **extra})


def auto(base, splits: dict, out: str, *, backbones=("minilm",), budget_s: float = 1800, k: int = 4,
         repeats: int = 3, recipes=None, seed: int = 0, resume: bool = False, overwrite: bool = False,
         progress: bool = True, max_pool: int = 5000, rule: str = "prior_se", worth: bool = True,
         distill_to: str | None = None) -> dict:
    """Score the candidates by CV on splits["train"], train the winner on all of it; see the module docstring.
    distill_to: a backbone the winner is then distilled into over the pool (auto_distill.py)."""
    from ..data import LabelMap

    if rule not in RULES:
        raise ConfigError(f"unknown selection rule {rule!r} (valid: {', '.join(RULES)})")
    train, pool, test = splits["train"], splits.get("unlabeled"), splits.get("test")
    pool_total = len(pool) if pool is not None else 0
    if pool is not None and max_pool and len(pool) > max_pool:  # a seeded sample: the pool's encoding and the kNN
        # graph grow with its size (SST-2's 67k rest: ~14 min to encode with MiniLM on 2 cores), their gain does not
        idx = np.sort(np.random.default_rng(seed).choice(len(pool), max_pool, replace=False))
        pool = pool.subset(idx.tolist(), unlabeled=True)
    if train.task != "classify":
        raise ConfigError("lowdata auto is for classification (NER: lowdata train)")
    if distill_to:  # checked before any time is spent
        from ..backbone import check_model

        if pool is None:
            raise ConfigError(f"--distill-to {distill_to}: distillation needs unlabeled texts (--unlabeled, or "
                              f"data.k_per_class to keep the rest of --train as the pool)")
        check_model(distill_to)
    labels = LabelMap.from_data(train)
    y = [labels.encode(v) for v in train.labels]
    counts = np.bincount(y, minlength=len(labels))
    if len(labels) < 2:
        raise ConfigError(f"{train.source}: lowdata auto needs labeled examples of at least two classes, got only "
                          f"{labels.names}")
    if counts.min() < 2:
        raise ConfigError(f"lowdata auto needs at least 2 labeled examples per class for cross-validation; "
                          f"{labels.names[int(counts.argmin())]!r} has {int(counts.min())}")
    k = int(min(k, counts.min()))
    cands = [(r, b) for b in backbones for r in (recipes or RECIPES) if pool is not None or not r.uses_pool]
    cands.sort(key=lambda rb: (rb[0].tuned, backbones.index(rb[1])))  # cheap first
    plan = folds(y, k, repeats, seed)
    settings = {"labels": len(train), "k": k, "repeats": repeats, "seed": seed, "backbones": list(backbones),
                "recipes": [r.name for r, _ in cands], "pool": len(pool) if pool is not None else 0,
                "pool_total": pool_total, "train_source": train.source, "config": _digest(base, cands)}
    runs.check(out, None, resume=resume, overwrite=overwrite)
    t_start = time.time()
    with runs.start(out, None, resume=resume, overwrite=overwrite, checkpoint=False):
        # --overwrite starts afresh: its stored cells were reused as by --resume until session 41 (a rerun with
        # other code re-scored nothing; a benchmark's "fresh" run timed only what was left)
        cells = Cells(os.path.join(out, "auto.json"), settings, fresh=overwrite and not resume)
        spent = sum(c["seconds"] for c in cells.cells.values())
        clock = lambda: spent + time.time() - t_start  # noqa: E731  (time of this auto run, resumed parts included)
        _measure_rates(cells, base, cands, backbones if worth else (), train.texts, progress)
        alive, dropped = list(cands), {}
        rank = {c: i for i, c in enumerate(cands)}
        reuse = os.path.join(out, "encoders")  # tuned encoders shared by the recipes of one fold, one repeat at a time
        stop = None  # the repeat the budget stopped the search before (None: every repeat ran)
        for rung in range(repeats):
            queue, waiting = list(alive), set()
            while queue and stop is None:
                r, b = queue.pop(0)
                waiting.discard((r, b))
                key0 = f"{r.name}|{b}"
                todo = [p for p in plan if p[0] == rung]
                # a partner deferred behind this one runs after it: r tunes its folds itself
                ahead = [x for x in alive if x not in waiting]
                sh = _shared(r, b, ahead)
                ex = _examples(r, len(train) * (k - 1) // k, len(pool) if pool is not None else 0, sh)
                est = _estimate(cells, key0, r, b, ex, sh)
                final_est = max(est * k / max(1, k - 1) * 1.5,
                                _reserve(cells, cands, alive, rule, len(train), len(pool) if pool is not None else 0))
                need = sum(est for p in todo if f"{key0}|{p[0]}|{p[1]}" not in cells.cells)
                if need and clock() + need + final_est > budget_s:
                    first = next((i for i, (x, xb) in enumerate(queue) if x.tuned and xb == b
                                  and (x, xb) not in waiting), None)
                    if _guessed(cells, r, b) and first is not None:
                        # its time is the measured training steps' guess (no tuned cell on this backbone yet;
                        # a cell's loading and evaluation are not in it): judged again right after the next tuned
                        # candidate of its backbone that is not waiting too (in the candidates' order among those
                        # waiting there), not after every costlier one; dropped on the guess when none is left
                        j = first + 1
                        while j < len(queue) and queue[j] in waiting and rank[queue[j]] < rank[(r, b)]:
                            j += 1
                        waiting.add((r, b))
                        queue.insert(j, (r, b))
                        continue
                    if rung:  # it has finished repeats: the budget ends the search, and every candidate still in
                        # it is compared on the repeats all of them finished (dropping them all for the next repeat
                        # lost a 25-minute search: TREC on mpnet, session 41)
                        stop = rung
                        break
                    alive.remove((r, b))
                    dropped[key0] = f"budget: rung {rung} needs ~{need:.0f} s more"
                    continue
                for rep, fold, tr, te in todo:
                    key = f"{key0}|{rep}|{fold}"
                    if key in cells.cells:
                        continue
                    left = sum(1 for p in todo if f"{key0}|{p[0]}|{p[1]}" not in cells.cells)
                    # candidates that would not fit are dropped before they start: the budget bounds the ETA
                    eta = min(_rung_eta(cells, alive, todo, train, pool, k) + final_est, max(0.0, budget_s - clock()))
                    _say(progress, f"auto: {r.name} on {b}, repeat {rep + 1}/{repeats}, fold {fold + 1}/{k} "
                                   f"({clock():.0f} s of {budget_s:.0f} s used; this candidate's repeat: ~"
                                   f"{left * _estimate(cells, key0, r, b, ex, sh):.0f} s left; this repeat of every "
                                   f"candidate and the final training: ETA ~{eta:.0f} s)")
                    cells.cells[key] = _cell(base, r, b, train, pool, tr, te, reuse)
                    if r.tuned:
                        cells.cells[key]["examples"] = _examples(r, len(tr), len(pool) if pool is not None else 0, sh)
                    if sh:
                        cells.cells[key]["shared"] = True
                    cells.save()
            shutil.rmtree(reuse, ignore_errors=True)  # the next repeat's folds are new: its tunings are too
            if stop is not None:
                break
            if rung + 1 < repeats and len(alive) > 1:
                alive, out_now = halve(cells, alive, preferred(alive, rule))
                for r, b in out_now:
                    dropped[f"{r.name}|{b}"] = f"halving after repeat {rung + 1}"
        if not alive:
            raise ConfigError(f"lowdata auto: no candidate fits a budget of {budget_s:.0f} s; raise --budget")
        scored = cells if stop is None else _upto(cells, stop)  # a stopped repeat's cells are not compared
        win_r, win_b = choose(scored, cands, alive, rule)
        win_ex = _examples(win_r, len(train), len(pool) if pool is not None else 0)
        final_est = _estimate(scored, f"{win_r.name}|{win_b}", win_r, win_b, win_ex) * 1.5
        w = None
        if worth:
            ft = next((r for r in (recipes or RECIPES) if r.name == "finetune"),
                      next(r for r in RECIPES if r.name == "finetune"))
            w = _worth(base, cells, ft, (win_r, win_b), train, y, plan, seed, clock, budget_s - final_est, progress,
                       _mean(scored, f"{win_r.name}|{win_b}"))
        _say(progress, f"auto: {win_r.name} on {win_b} wins; training it on all {len(train)} labels")
        t0 = time.time()
        cfg = _cfg(base, win_r, win_b, os.path.join(out, "final"))
        from . import train as train_method

        final = train_method(cfg, {"train": train, "dev": None, "test": test,
                                   "unlabeled": pool if win_r.uses_pool else None},
                             resume=resume, overwrite=True)
        result = _summary(scored, cands, dropped, (win_r, win_b), final, time.time() - t0, clock(), budget_s, k,
                          len(train), test)
        result["pool"] = {"used": settings["pool"], "total": pool_total, "seed": seed}
        result["rule"], result["worth"] = rule, w
        result["rates"] = dict(cells.rates)
        if distill_to:
            result["student"] = _distill(base, out, result, distill_to, train, pool, test, seed, resume, progress)
        if rule in ("one_se", "prior_se"):
            top_r, top_b = choose(scored, cands, alive, "argmax")
            first = "the registry's order (cheapest and most regularised first)"
            top = _top(cands)
            if rule == "prior_se" and top:
                first = (f"the order {top} first (the best recipe on the design sets MR and Pros & Cons), then the "
                         f"registry's (cheapest and most regularised first)")
            result["reason"] = (f"one-standard-error rule: the first candidate in {first} whose mean CV accuracy is "
                                f"within one standard error (paired over shared folds) of the best mean, {top_r.name} "
                                f"on {top_b} ({_mean(scored, f'{top_r.name}|{top_b}'):.4f})")
        if stop is not None:
            result["stopped_before_repeat"] = stop + 1
            result["reason"] += (f" (the budget ended the search before repeat {stop + 1} of {repeats}: every "
                                 f"candidate still in it was compared on the {stop} repeat(s) they all finished)")
        cells.save(result=result)
        from .auto_report import write_reports

        write_reports(out, result)
        runs.write_json(os.path.join(out, "metrics.json"), result)
    return result


def _distill(base, out, result, backbone, train, pool, test, seed, resume, progress) -> dict:
    from .auto_distill import overrides, student

    ch = result["chosen"]
    if not ch["inductive"]:
        return {"backbone": backbone, "skipped": f"{ch['recipe']} is transductive: it leaves no model to learn from"}
    cfg = _cfg(base, Recipe("distill", overrides(os.path.join(out, "final", "model")), True, True), backbone,
               os.path.join(out, "student"))
    return student(cfg, out, train, pool, test, result["estimate"]["interval"], seed, resume,
                   lambda m: _say(progress, m))


def _worth(base, cells, ft: Recipe, winner, train, y, plan, seed, clock, budget_s, progress, win_acc) -> dict:
    """The winner's worth in labels versus plain fine-tuning on its backbone (methods/auto_worth.py), from extra
    fine-tuning cells at fractions of the first repeat's folds; skipped, with the reason, when it does not fit.
    win_acc: the winner's mean CV accuracy, as compared."""
    from . import auto_worth

    win_r, b = winner
    if win_r.name == ft.name:
        return {"skipped": "the winner is plain fine-tuning itself (1x by definition)"}
    first = [p for p in plan if p[0] == 0]
    todo = [(f"worth|{b}|{f}|{fold}", tr, te) for f, fold, tr, te in auto_worth.plan(y, first, seed)]
    todo += [(f"{ft.name}|{b}|0|{fold}" if f"{ft.name}|{b}|0|{fold}" in cells.cells else f"worth|{b}|1.0|{fold}",
              tr, te) for _, fold, tr, te in first]
    need = sum(_estimate(cells, f"{ft.name}|{b}", ft, b, _examples(ft, len(tr), 0))
               for key, tr, _ in todo if key not in cells.cells)
    if need and clock() + need > budget_s:
        return {"skipped": f"budget: ~{need:.0f} s of fine-tuning cells would not fit"}
    points = []
    for i, (key, tr, te) in enumerate(todo):
        if key not in cells.cells:
            _say(progress, f"auto: worth in labels, fine-tuning on {len(tr)} labels ({i + 1}/{len(todo)})")
            cells.cells[key] = _cell(base, ft, b, train, None, tr, te)
            cells.cells[key]["examples"] = _examples(ft, len(tr), 0)
            cells.save()
        points.append((len(tr), cells.cells[key]["accuracy"]))
    fold_size = int(round(np.mean([len(tr) for _, _, tr, _ in first])))
    return auto_worth.estimate(points, fold_size, win_acc, seed=seed)


RULES = ("prior_se", "one_se", "argmax")
# prior_se's preferred recipe: the best by mean test accuracy over the design sets' samples (MR and Pros & Cons,
# 16/class, MiniLM, 3 samples each: bench/auto_grid.py --results auto-design-grid, + auto-design-grid-pl for
# setfit+pl, replayed by bench/auto_rules.py), never read off a benchmark. Session 20 (candidates frozen LR x3,
# label spreading, GCN, SetFit-style): SetFit-style was the best recipe on all 6 samples (mean test 0.755, frozen LR
# C=1 0.705); CV inside 32 labels ranked it first on 3 (8 held-out texts a fold); against the best fixed recipe
# (points, MR / Pros & Cons, se()'s corrected standard error) the one-SE rule in the registry's order lost 2.5 / 9.4,
# argmax 2.8 / 3.8, prior_se 0.8 / 0.0. Session 21 added setfit+pl (SetFit-style + one round of GCN pseudo-labels):
# mean test 0.767 against SetFit-style's 0.755 (MR +5.9 / +0.4 / +1.6 points, Pros & Cons -0.2 / -0.7 / +0.3), so
# by the same reading it is preferred now: prior_se then loses 2.8 / 0.2 against the best fixed recipe (with
# SetFit-style preferred, on the same 7 candidates: 3.5 / 0.0; mean test 0.753 against 0.751). Read off the other
# set alone (leave one dataset out) the preference flips to SetFit-style for MR (-3.5) and stays setfit+pl for Pros &
# Cons (-0.2): the 2 sets do not agree, and the gain is MR's. The rest follow in the registry's order (the design grid
# did not run the slower tuned recipes: fine-tuning, LP-FT, EDA, FGM, self-training). Without an unlabeled pool
# setfit+pl is no candidate and SetFit-style, the next, is preferred. Session 23: setfit+pl's pseudo-labels are
# weighted by the graph's certainty (frozen.pseudo_weighting, Iscen et al. 2019; chosen on MR, Pros & Cons and
# CLINC150 travel by bench/setfit_heads.py); trained on all labels it is still ahead of or level with SetFit-style
# on all 6 MR / Pros & Cons samples (+6.2 / 0.0 / +0.8, +0.5 / +0.6 / +0.4 points), so it stays preferred; the design
# grid's CV cells for it (auto-design-grid-pl) are from the top-portion weighting and were not re-run. Session 29:
# on the multi-class design sets (GoEmotions-Ekman, CLINC150 travel; 3 samples each, bench/auto_grid.py) setfit+pl's
# mean test accuracy is not below SetFit-style's (0.6800 vs 0.6784), so by the rule fixed before that run the
# preference is the same for every class count.
PREFERENCE = ("setfit+pl", "setfit")


def halve(cells, alive, protect=()) -> tuple:
    """Successive halving (Jamieson & Talwalkar 2016) on the mean over every finished cell: -> (the better half,
    rounded up, in rank order; the rest). Ties keep the earlier candidate (cheap first). Candidates in `protect`
    (prior_se's preferred recipe, the incumbent the others must beat) are kept and not counted in the half."""
    ranked = sorted((rb for rb in alive if rb not in protect), key=lambda rb: -_mean(cells, f"{rb[0].name}|{rb[1]}"))
    keep = max(1, math.ceil(len(ranked) / 2)) if ranked else 0
    return [rb for rb in alive if rb in protect] + ranked[:keep], ranked[keep:]


def preferred(cands, rule: str) -> list:
    """The candidates halving must keep: under prior_se, the first recipe of PREFERENCE among the candidates (on
    every backbone it runs on) and the one whose tuned encoders it reuses; none under the other rules."""
    if rule != "prior_se":
        return []
    top = _top(cands)
    # and, on the same backbones, the recipe whose tuning it reuses (SHARES): little more than the preferred one alone
    on = {b for r, b in cands if r.name == top}
    return [rb for rb in cands if rb[0].name == top or (rb[0].name == SHARES.get(top) and rb[1] in on)]


def _top(cands) -> str | None:
    """The first recipe of PREFERENCE among the candidates."""
    names = {r.name for r, _ in cands}
    return next((n for n in PREFERENCE if n in names), None)


def choose(cells, cands, alive, rule: str = "prior_se"):
    """The winner. prior_se (the default): one_se below, with the design sets' best recipe (PREFERENCE: SetFit-style)
    first in the order instead of the cheapest, so it is kept unless a candidate's mean CV accuracy is ahead of it by
    more than one standard error (paired); halving keeps it to the last repeat (preferred()). Chosen over one_se and
    argmax on MR and Pros & Cons with the preferred recipe read off the other design set (bench/auto_rules.py, leave
    one dataset out). argmax: the best mean CV accuracy among the candidates that reached the last repeat. one_se (the
    one-standard-error rule, Breiman et al. 1984; Hastie et al., ESL 7.10): the first candidate in the registry's
    order (cheapest and most regularised first: RECIPES; within a recipe, its better backbone by mean CV accuracy
    first) whose mean accuracy on the folds it shares with the argmax winner is within one standard error of the
    winner's there (the standard error of the paired differences over those folds, corrected as in se()). Chosen
    between the two on MR and CLINC150 with MiniLM alone (bench/auto_rules.py), never on a benchmark's test set.
    The backbone order inside a recipe was changed from "as given" after a benchmark run (SST-2, seed 2, minilm
    mpnet e5-small) took MiniLM's frozen LR over mpnet's: said so in docs/numbers.md."""
    if rule not in RULES:
        raise ConfigError(f"unknown selection rule {rule!r} (valid: {', '.join(RULES)})")
    last = max(_reps(cells, f"{r.name}|{b}") for r, b in alive)
    finalists = [rb for rb in alive if _reps(cells, f"{rb[0].name}|{rb[1]}") == last]
    best = max(finalists, key=lambda rb: _mean(cells, f"{rb[0].name}|{rb[1]}"))
    if rule == "argmax":
        return best
    acc = lambda rb: {kk.split("|", 2)[2]: c["accuracy"] for kk, c in cells.cells.items()  # noqa: E731
                      if kk.startswith(f"{rb[0].name}|{rb[1]}|")}
    names = [r.name for r in RECIPES]
    if rule == "prior_se":
        names = [*PREFERENCE, *(n for n in names if n not in PREFERENCE)]
    # backbones are no axis of complexity: within a recipe, the backbone with the better mean CV accuracy comes first
    order = sorted(cands, key=lambda rb: (names.index(rb[0].name) if rb[0].name in names else len(names),
                                          -_mean(cells, f"{rb[0].name}|{rb[1]}")))
    a_best = acc(best)
    for rb in order:
        if rb == best:
            return best
        mine = acc(rb)
        shared = sorted(set(mine) & set(a_best))
        d = np.array([a_best[f] - mine[f] for f in shared])
        if len(d) >= 2 and d.mean() <= se(d, 1 + max(int(f.split("|")[1]) for f in shared)):
            return rb
    return best


def se(d, k: int) -> float:
    """The standard error of the mean of paired differences d over the folds of repeated k-fold CV, with Nadeau &
    Bengio's correction (2003, "Inference for the Generalization Error"; Bouckaert & Frank 2004 for repeated CV):
    folds share training texts, so the naive sd/sqrt(n) understates the variance; corrected, it is
    sd^2 (1/n + n_test/n_train), n_test/n_train = 1/(k-1). Naive, a 2-text lead in 96 held-out predictions counted as
    more than one standard error (SUBJ, sample 1: the benchmark run that showed it; the correction is the textbook
    one, not fitted to it, and the design sets' table in docs/auto.md is replayed with it)."""
    return float(d.std(ddof=1) * np.sqrt(1 / len(d) + 1 / max(1, k - 1)))


def _say(progress, msg):
    if progress:
        import sys

        print(msg, file=sys.stderr, flush=True)


def _estimate(cells, key0, r, backbone, examples, shared: bool = False) -> float:
    """Seconds one more cell of this candidate will take: the mean of its own cells run alike (shared: reusing a
    partner's tunings, or not: setfit+pl tunes itself once SetFit-style is gone, ~5x its shared cells' time), else
    (tuned) the backbone's learnt seconds per example, else its measured one (_measure_rates)."""
    done = [c["seconds"] for k, c in cells.cells.items()
            if k.startswith(key0 + "|") and c.get("shared", False) == shared]
    if done:
        return float(np.mean(done))
    if not r.tuned:
        return FROZEN_PRIOR_S
    pairs = r.name in PAIRED
    rates = _learnt(cells, backbone, pairs)
    if rates:
        return examples * float(np.mean(rates))
    if not pairs:
        return examples * cells.rates[backbone]
    # SetFit's pair steps as measured (auto_rate.py); once training cells have run, scaled by how far their learnt
    # rate is from the measured steps' (this machine's cells against its steps: a GPU's fixed costs, a bad guess)
    steps = _learnt(cells, backbone, False)
    scale = float(np.mean(steps)) / cells.rates[backbone] if steps and cells.rates.get(backbone) else 1.0
    return examples * cells.rates[_rate_key(r, backbone)] * scale


# recipes whose examples are texts of SetFit pairs: priced by the pair steps' measured rate and their own kind's
# cells, not by fine-tuning cells, whose fixed costs weigh on ~4x fewer examples (auto_rate.py)
PAIRED = ("setfit", "setfit+pl")


def _rate_key(r: Recipe, backbone: str) -> str:
    """cells.rates' key for the measured rate a tuned recipe is first priced by: "<backbone>" for training steps,
    "<backbone> pairs" for SetFit's contrastive steps."""
    return f"{backbone} pairs" if r.name in PAIRED else backbone


def _learnt(cells, backbone: str, pairs: bool = False) -> list:
    """Seconds per training example of every finished tuned cell on this backbone of one kind: SetFit's pair tuning
    (pairs; setfit+pl's cells that reuse a tuning, forward passes only, left out) or the rest."""
    return [c["seconds"] / c["examples"] for k, c in cells.cells.items()
            if k.split("|")[1] == backbone and c.get("examples")
            and (k.split("|")[0] in PAIRED and not c.get("shared")) == pairs]


def _reserve(cells, cands, alive, rule, n: int, pool: int) -> float:
    """Seconds to keep for the final training: the current favourite's (choose() on the cells so far), once it has
    cells of its own, else none. A candidate's next repeat used to reserve only its own final training, but the
    favourite's follows the search: setfit+pl's on mpnet (~120 s, where fine-tuning's is ~50) made SST-2 samples 3
    and 4 run 49 and 26 s over their 30-minute budget (session 35)."""
    if not cells.cells:
        return 0.0
    r, b = choose(cells, cands, alive, rule)
    key0 = f"{r.name}|{b}"
    if not any(k.startswith(key0 + "|") for k in cells.cells):
        return 0.0
    return _estimate(cells, key0, r, b, _examples(r, n, pool)) * 1.5


def _measure_rates(cells, base, cands, more, texts, progress) -> None:
    """cells.rates[key]: seconds per training example measured on this machine (auto_rate.py) for each backbone a
    tuned candidate (or, in `more`, the worth's fine-tuning) may run on, and apart for SetFit's pair steps where a
    SetFit candidate may (_rate_key), unless a tuned cell of that kind has priced it already."""
    from . import auto_rate

    ft = next(r for r in RECIPES if r.name == "finetune")
    todo = {_rate_key(r, b): (r if r.name in PAIRED else ft, b) for r, b in cands if r.tuned}
    todo.update({b: (ft, b) for b in more if b not in todo})
    for key, (r, b) in todo.items():
        pairs = r.name in PAIRED
        if key in cells.rates or _learnt(cells, b, pairs):
            continue
        kind = "SetFit pair" if pairs else "training"
        _say(progress, f"auto: measuring this machine's {kind} speed on {b}")
        cfg = _cfg(base, r, b, os.path.dirname(cells.path))
        cells.rates[key] = auto_rate.seconds_per_example(cfg, texts, pairs=pairs)
        _say(progress, f"auto: {b}: {cells.rates[key]:.4f} s per {kind} example")
        cells.save()


def _guessed(cells, r: Recipe, backbone: str) -> bool:
    """Whether a tuned candidate's time would come from the measured training steps alone (no cell of its own, no
    tuned cell on its backbone)."""
    return r.tuned and not any(k.split("|")[1] == backbone and (c.get("examples") or k.startswith(f"{r.name}|"))
                               for k, c in cells.cells.items())


def _rung_eta(cells, alive, todo, train, pool, k) -> float:
    """Seconds the unfinished cells of this repeat will take, over every candidate still in the search."""
    total = 0.0
    for r, b in alive:
        key0 = f"{r.name}|{b}"
        sh = _shared(r, b, alive)
        ex = _examples(r, len(train) * (k - 1) // k, len(pool) if pool is not None else 0, sh)
        total += sum(_estimate(cells, key0, r, b, ex, sh) for p in todo if f"{key0}|{p[0]}|{p[1]}" not in cells.cells)
    return total


def _upto(cells, stop: int):
    """A read-only view of the candidates' cells of repeats before `stop` (where the budget ended the search)."""
    kept = {k: c for k, c in cells.cells.items() if k.split("|")[0] != "worth" and int(k.split("|")[2]) < stop}
    return types.SimpleNamespace(cells=kept, rates=cells.rates)


def _mean(cells, key0) -> float:
    acc = [c["accuracy"] for k, c in cells.cells.items() if k.startswith(key0 + "|")]
    return float(np.mean(acc)) if acc else -1.0


def _reps(cells, key0) -> int:
    return len({k.split("|")[2] for k in cells.cells if k.startswith(key0 + "|")})


SHARES = {"setfit+pl": "setfit"}  # recipe -> the recipe whose tuned encoder of a fold it reuses (runs after it)


def _shared(r: Recipe, b: str, alive) -> bool:
    """Whether r's tuning on a fold is another candidate's on the same backbone, which runs first (RECIPES' order;
    auto passes the candidates not deferred: a deferred SetFit-style runs after setfit+pl, which then tunes)."""
    return r.name in SHARES and any(x.name == SHARES[r.name] and bb == b for x, bb in alive)


def _cell(base, r: Recipe, backbone: str, train, pool, tr, te, reuse: str | None = None) -> dict:
    """One fold: train the recipe on train[tr] (+ the pool), predict train[te] and score it here. The method gets
    the held-out texts with every label replaced by one placeholder class: their true labels never reach it (graph
    methods see the texts as unlabeled nodes, as any test text). reuse: contrastive.reuse_dir, where recipes that
    tune the encoder by the contrastive stage alone keep it for the others on the same fold."""
    from sklearn.metrics import accuracy_score, f1_score

    from ..data import TextData
    from . import train as train_method

    t0 = time.time()
    fold = train.subset(tr)
    truth = [train.labels[i] for i in te]
    blind = TextData([train.texts[i] for i in te], [fold.labels[0]] * len(te), source=f"{train.source} (held-out fold)",
                     lines=[train.lines[i] for i in te])
    with tempfile.TemporaryDirectory() as tmp:
        cfg = _cfg(base, r, backbone, os.path.join(tmp, "run"))
        cfg.frozen.save_model = False  # a fold's classifier is scored, not kept
        cfg.contrastive.reuse_dir = reuse
        train_method(cfg, {"train": fold, "dev": None, "test": blind, "unlabeled": pool if r.uses_pool else None})
        with open(os.path.join(tmp, "run", "predictions.jsonl"), encoding="utf-8") as f:
            pred = [json.loads(ln)["pred"] for ln in f if ln.strip()]
    if len(pred) != len(truth):
        raise RuntimeError(f"auto: {r.name} predicted {len(pred)} of {len(truth)} held-out texts")
    return {"accuracy": float(accuracy_score(truth, pred)), "n": len(te), "seconds": round(time.time() - t0, 2),
            "macro_f1": float(f1_score(truth, pred, average="macro", labels=sorted(set(train.labels)),
                                       zero_division=0))}


def _summary(cells, cands, dropped, winner, final, final_s, total_s, budget_s, k, n_labels, test) -> dict:
    rows = []
    for r, b in cands:
        key0 = f"{r.name}|{b}"
        cs = [c for kk, c in cells.cells.items() if kk.startswith(key0 + "|")]
        if not cs:
            rows.append({"recipe": r.name, "backbone": b, "status": dropped.get(key0, "not run")})
            continue
        acc = np.array([c["accuracy"] for c in cs])
        correct = sum(c["accuracy"] * c["n"] for c in cs)
        n = sum(c["n"] for c in cs)
        reps = _reps(cells, key0)
        lo, hi = wilson(correct / max(1, reps), n // max(1, reps))
        rows.append({"recipe": r.name, "backbone": b, "cv_accuracy": float(acc.mean()), "interval": [lo, hi],
                     "macro_f1": float(np.mean([c["macro_f1"] for c in cs])), "cells": len(cs), "repeats": reps,
                     "seconds_per_cell": float(np.mean([c["seconds"] for c in cs])),
                     "status": dropped.get(key0, "finalist")})
    win = next(x for x in rows if x["recipe"] == winner[0].name and x["backbone"] == winner[1])
    win["status"] = "chosen"
    ft = [x for x in rows if x["recipe"] == "finetune" and "cv_accuracy" in x]
    out = {"chosen": {"recipe": winner[0].name, "backbone": winner[1], "overrides": list(winner[0].overrides),
                      "inductive": winner[0].inductive},
           "reason": f"best mean accuracy over {win['cells']} held-out folds ({win['repeats']} repeats of {k}-fold "
                     f"CV) among the candidates of the last rung",
           "estimate": {"accuracy": win["cv_accuracy"], "interval": win["interval"],
                        "caveat": f"CV models saw {k - 1}/{k} of the {n_labels} labels; the best of {len(rows)} "
                                  f"estimates is optimistic (winner's curse)"},
           "candidates": rows, "labels": n_labels, "k": k, "final_seconds": round(final_s, 1),
           "total_seconds": round(total_s, 1), "budget_seconds": budget_s,
           "final_run": "final", "vs_finetune": None}
    if ft:
        out["vs_finetune"] = {"finetune_cv_accuracy": ft[0]["cv_accuracy"],
                              "gain_points": 100 * (win["cv_accuracy"] - ft[0]["cv_accuracy"])}
    if test is not None and final.get("test"):
        out["test"] = {"accuracy": final["test"]["accuracy"], "macro_f1": final["test"]["macro_f1"],
                       "n": len(test)}
    return out
