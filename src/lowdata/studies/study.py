"""`lowdata curve`: a study = base config x label budgets x methods x seeds, every cell stored as it finishes, then
learning curves, label equivalence and labels-for-target per method.

    lowdata curve -c study.yaml [--workers 2]

study.yaml:
    base: configs/sst2-16shot.yaml          # a train config (path, or an inline mapping)
    budgets: [4, 8, 16, 32, 64, 128]        # labeled per class; "full" = the whole training set
    seeds: [0, 1, 2]                        # each seed is a different few-shot sample (and training seed)
    methods:                                # name -> overrides of the base config
      baseline: {}
      eda: {augment.specs: ["eda:alpha=0.05,n=16"]}
    baseline: baseline
    by_budget:                              # overrides for some budgets' cells (a method's own overrides win)
      full: {train.epochs: 1, train.batch_size: 32}
    target: 0.90                            # report the labels each method needs for this score
    output_dir: runs/study

    store: postgresql://user@host/db        # optional: several machines work on one study (default: SQLite)
    acquisition:                            # optional: who picks the labels (lowdata.active.simulate)
      strategies: [random, typiclust, margin]   # each method runs on the rows each strategy buys ("gcn@margin")
      cold_start: typiclust                 # the first batch of a strategy that needs labels (simulate.py)
      balance: false                        # spread each batch over the surrogate's predicted classes
      backbone: null                        # the vectors strategies see (default: the base config's model.name)
      buy_at: [4]                           # optional: also close a batch here (labels per class), no cell trained

The store (studies/store.py) is SQLite at `output_dir/study.db`, or PostgreSQL for several machines: a worker
claims the next pending cell in a transaction, so `--workers N` processes (on any number of machines with a
PostgreSQL store) never run a cell twice, and a killed study resumes without redoing finished cells (cells left
"running" by a dead worker go back to pending: on the next start with SQLite, after a stale heartbeat with
PostgreSQL).
Scores: test accuracy (classification) or entity F1 (NER); curves are fitted on error = 1 - score against the
total number of labels (per-class budget x classes).
With `acquisition`, a budget b buys b x classes labels in all (not b per class): uniformly at random for the
strategy `random` (the control: no stratification, which would use the hidden labels), or by the strategy from the
training file with its labels hidden until bought; the rest of the file is the unlabeled pool of the SSL methods.
The label equivalence is then also reported per method against the same method on random labels ("labels chosen
by S are worth N random labels").
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Study:
    base: object = None
    budgets: list = field(default_factory=lambda: [4, 8, 16, 32])
    seeds: list = field(default_factory=lambda: [0, 1, 2])
    methods: dict = field(default_factory=lambda: {"baseline": {}})
    baseline: str = "baseline"
    by_budget: dict = field(default_factory=dict)  # budget -> overrides for its cells (e.g. full: fewer epochs)
    target: float | None = None
    output_dir: str = "runs/study"
    store: str | None = None            # None: SQLite at output_dir/study.db; or postgresql://... (several machines)
    name: str | None = None             # the study's key in a shared store (default: output_dir's last part)
    acquisition: dict | None = None     # strategies / cold_start / balance / backbone / buy_at (module docstring)


ACQUISITION_KEYS = ("strategies", "cold_start", "balance", "backbone", "buy_at")


def cell_methods(st: Study) -> list[str]:
    """The methods as stored cells name them: the study's methods, or method@strategy with an acquisition axis."""
    if not st.acquisition:
        return list(st.methods)
    return [f"{m}@{s}" for m in st.methods for s in st.acquisition["strategies"]]


def baseline_of(st: Study) -> str:
    if not st.acquisition:
        return st.baseline
    strat = st.acquisition["strategies"]
    return f"{st.baseline}@{'random' if 'random' in strat else strat[0]}"


def load_study(path: str) -> Study:
    from ..config import ConfigError, read_yaml

    d = read_yaml(path)
    if not isinstance(d, dict):
        raise ConfigError(f"{path}: expected a mapping of study keys (base, budgets, seeds, methods, ...), got a "
                          f"{type(d).__name__}")
    valid = set(Study.__dataclass_fields__)
    bad = set(d) - valid
    if bad:
        raise ConfigError(f"{path}: unknown study keys {sorted(bad)} (valid: {', '.join(sorted(valid))})")
    st = Study(**d)
    _check_axes(st, path)
    if not isinstance(st.by_budget, dict):
        raise ConfigError(f"{path}: by_budget must map a budget to overrides, got {st.by_budget!r}")
    unknown = {str(b) for b in st.by_budget} - {str(b) for b in st.budgets}
    if unknown:
        raise ConfigError(f"{path}: by_budget names budgets {sorted(unknown)} that are not in budgets {st.budgets}")
    if st.baseline not in st.methods:
        given = "" if "baseline" in d else " (not given: the default)"
        raise ConfigError(f"{path}: baseline {st.baseline!r}{given} is not one of the methods {list(st.methods)}; "
                          f"set baseline: to the method the others are measured against")
    if st.acquisition is not None:
        _check_acquisition(st.acquisition, path)
    if isinstance(st.base, str) and not os.path.isabs(st.base) and not os.path.exists(st.base):
        cand = os.path.join(os.path.dirname(path), st.base)
        st.base = cand if os.path.exists(cand) else st.base
    return st


def _check_axes(st: Study, path: str) -> None:
    """budgets: labels per class (integers >= 1) or "full"; seeds: integers; methods: name -> overrides."""
    from ..config import ConfigError

    if not isinstance(st.budgets, list) or not st.budgets:
        raise ConfigError(f"{path}: budgets must be a non-empty list, got {st.budgets!r}")
    for b in st.budgets:
        if b != "full" and (isinstance(b, bool) or not isinstance(b, int) or b < 1):
            raise ConfigError(f"{path}: budgets: expected integers >= 1 (labels per class) or \"full\", got {b!r}")
    if not isinstance(st.seeds, list) or not st.seeds or not all(isinstance(x, int) and not isinstance(x, bool)
                                                                   for x in st.seeds):
        raise ConfigError(f"{path}: seeds must be a non-empty list of integers, got {st.seeds!r}")
    for axis in ("budgets", "seeds"):  # [0, 0] ran each cell once and fitted it twice over
        dup = sorted({str(x) for x in getattr(st, axis) if getattr(st, axis).count(x) > 1})
        if dup:
            raise ConfigError(f"{path}: {axis}: {', '.join(dup)} given more than once")
    if st.target is not None and (isinstance(st.target, bool) or not isinstance(st.target, (int, float))
                                  or not 0 < st.target < 1):
        raise ConfigError(f"{path}: target: expected a score between 0 and 1 (e.g. 0.85) or null, got {st.target!r}")
    if not isinstance(st.methods, dict) or not st.methods:
        raise ConfigError(f"{path}: methods must map a name to its overrides, got {st.methods!r}")
    for m, o in st.methods.items():
        if o is not None and not isinstance(o, dict):
            raise ConfigError(f"{path}: methods.{m}: expected a mapping of config overrides, got {o!r}")


def _check_acquisition(a, path: str) -> None:
    from ..active import STRATEGIES
    from ..active.simulate import DEFAULT_COLD_START
    from ..config import ConfigError

    if not isinstance(a, dict):
        raise ConfigError(f"{path}: acquisition must be a mapping ({', '.join(ACQUISITION_KEYS)}), got {a!r}")
    bad = set(a) - set(ACQUISITION_KEYS)
    if bad:
        raise ConfigError(f"{path}: unknown acquisition keys {sorted(bad)} (valid: {', '.join(ACQUISITION_KEYS)})")
    strat = a.get("strategies")
    if not isinstance(strat, list) or not strat:
        raise ConfigError(f"{path}: acquisition.strategies must be a non-empty list (valid: "
                          f"{', '.join(STRATEGIES.names())})")
    for x in strat:
        if x not in STRATEGIES:
            raise ConfigError(f"{path}: acquisition.strategies: unknown {x!r} (valid: {', '.join(STRATEGIES.names())})")
    a.setdefault("cold_start", DEFAULT_COLD_START)
    a.setdefault("balance", False)
    a.setdefault("backbone", None)
    # buy_at: labels per class where the simulated loop also closes a batch, with no cell trained there (a study of
    # 40 chosen labels bought as 4 per class, then 6 more, trains only at 10). Not defaulted: a study without it
    # keeps the spec it was recorded with.
    buy = a.get("buy_at")
    if buy is not None and (not isinstance(buy, list) or not all(isinstance(b, int) and not isinstance(b, bool)
                                                                  and b >= 1 for b in buy)):
        raise ConfigError(f"{path}: acquisition.buy_at: expected a list of integers >= 1 (labels per class), "
                          f"got {buy!r}")


def _trajectory_path(st: Study, strategy: str, seed) -> str:
    return os.path.join(st.output_dir, "acquisition", f"{strategy}-{seed}.json")


def acquire(st: Study) -> None:
    """Compute (or find on disk) every strategy x seed trajectory of the study, before any cell runs. A study whose
    budgets grew past a stored trajectory's last batch extends it (bought again in full: the rows up to its old end
    are the same, and that is checked); a new boundary inside the stored batches would change the rows bought after
    it, so that is refused."""
    from ..active.simulate import trajectory
    from ..config import ConfigError
    from ..data.splits import load_splits
    from ..runs import write_json
    from ..ssl.embedding import cached_embed
    from .spec import check_trajectory

    base = cell_config(st, f"{next(iter(st.methods))}@random", "full", 0)
    train = load_splits(base.data, seed=0)["train"]
    if train.task != "classify":
        raise ConfigError("study acquisition is for classification")
    names = train.label_set()
    extra = st.acquisition.get("buy_at") or []
    totals = sorted({int(b) * len(names) for b in [*st.budgets, *extra] if str(b) != "full"})
    want = sorted({min(t, len(train)) for t in totals})  # what the loop's steps end at (simulate.trajectory)
    if not want:  # no per-class budget: nothing to buy
        return
    todo, before = [], {}
    for s in st.acquisition["strategies"]:
        for seed in st.seeds:
            p = _trajectory_path(st, s, seed)
            if not os.path.exists(p):
                todo.append((s, seed))
                continue
            check_trajectory(p, st.acquisition)
            with open(p, encoding="utf-8") as f:
                old = json.load(f)
            ends = [step["total"] for step in old.get("steps", [])]
            if not ends:  # a file without its batches recorded: usable only as far as it goes
                if len(old["chosen"]) < want[-1]:
                    raise ConfigError(f"{p}: holds {len(old['chosen'])} bought rows and no record of its batches; "
                                      f"this study's budgets need {want[-1]}: use a new output_dir")
                continue
            upto = min(ends[-1], want[-1])  # where both reach: the batches there must be the same
            if [e for e in ends if e <= upto] != [w for w in want if w <= upto]:
                raise ConfigError(f"{p}: bought in batches ending at {ends} labels; this study's budgets need "
                                  f"{want}: a boundary inside the bought batches would change the rows bought after "
                                  f"it: use a new output_dir")
            if want[-1] > ends[-1]:
                todo.append((s, seed))
                before[(s, seed)] = old["chosen"]
    if not todo:
        return
    y = np.array([names.index(v) for v in train.labels])
    X = cached_embed(train.texts, st.acquisition["backbone"] or base.model.name, base.model.max_length,
                     base.model.embed_bf16)
    os.makedirs(os.path.join(st.output_dir, "acquisition"), exist_ok=True)
    for s, seed in todo:
        t0 = time.time()
        tr = trajectory(X, y, totals, s, int(seed), len(names), st.acquisition["cold_start"],
                        bool(st.acquisition["balance"]))
        old = before.get((s, seed))
        if old is not None and tr["chosen"][:len(old)] != old:
            raise ConfigError(f"{_trajectory_path(st, s, seed)}: extending it bought other rows than the stored "
                              f"ones (the pool's vectors changed?): use a new output_dir")
        tr["seconds"] = round(time.time() - t0, 3)
        if extra:
            tr["buy_at"] = sorted(extra)
        tr["lines"] = [train.lines[i] for i in tr["chosen"]]
        write_json(_trajectory_path(st, s, seed), tr)


def acquired_splits(st: Study, cfg, strategy: str, budget, seed) -> dict:
    """The cell's splits: the first budget x classes rows the strategy bought as train, the rest unlabeled."""
    from ..data.splits import load_splits

    splits = load_splits(cfg.data, seed=int(seed))
    full = splits["train"]
    with open(_trajectory_path(st, strategy, seed), encoding="utf-8") as f:
        chosen = json.load(f)["chosen"][: int(budget) * len(full.label_set())]
    rest = sorted(set(range(len(full))) - set(chosen))
    splits["train"] = full.subset(sorted(chosen))
    splits["unlabeled"] = full.subset(rest, unlabeled=True)
    splits["unlabeled_truth"] = [full.labels[i] for i in rest]
    # A class nobody bought yet: the model cannot predict it, so each of its test examples is an error. The method
    # is scored on the test examples of the bought classes and the cell's accuracy scaled by their share (exact for
    # accuracy); `kept` records that share.
    have = set(splits["train"].labels)
    splits["kept"] = 1.0
    for name in ("dev", "test"):
        d = splits.get(name)
        if d is not None and set(d.labels) - have:
            keep = [i for i, y in enumerate(d.labels) if y in have]
            if name == "test":
                splits["kept"] = len(keep) / len(d)
            splits[name] = d.subset(keep) if keep else None
    return splits


def base_dict(st: Study) -> dict:
    """The base config, resolved, as a dict: what every cell starts from (and what study.spec.json records)."""
    from ..config import from_dict, load_config, to_dict

    return to_dict(load_config(st.base) if isinstance(st.base, str) else from_dict(st.base or {}, "study.base"))


def cell_config(st: Study, method: str, budget: str, seed: int):
    from ..config import apply_overrides, from_dict

    d = base_dict(st)
    by_budget = {str(b): o for b, o in (st.by_budget or {}).items()}
    # the budget's schedule first, then the method's own settings (a method may need its own, e.g. SetFit epochs 0)
    overrides = [f"{k}={json.dumps(v)}" for k, v in (by_budget.get(str(budget)) or {}).items()]
    own = method.split("@")[0] if st.acquisition else method
    overrides += [f"{k}={json.dumps(v)}" for k, v in (st.methods[own] or {}).items()]
    apply_overrides(d, overrides)
    d["data"]["k_per_class"] = None if budget == "full" or st.acquisition else int(budget)
    d["data"]["sample_seed"] = seed
    d["train"]["seed"] = seed
    d["train"]["progress"] = False
    d["train"]["save_every"] = 0
    d["output_dir"] = os.path.join(st.output_dir, "cells", f"{method}-{budget}-{seed}")
    return from_dict(d, "study cell")


def _work(st: Study, worker: str, quiet: bool = False) -> int:
    from ..methods import train as train_config
    from .store import Heartbeat, open_store

    store = open_store(st.store, st.output_dir, st.name)
    done = 0
    while True:
        cell = store.claim(worker)
        if cell is None:
            return done
        method, budget, seed = cell
        t0 = time.time()
        cfg = cell_config(st, method, budget, seed)
        splits = None
        if st.acquisition and str(budget) != "full":
            splits = acquired_splits(st, cfg, method.split("@")[1], budget, seed)
        kept = splits.pop("kept", 1.0) if splits else 1.0
        if splits and len(set(splits["train"].labels)) == 1:
            # one class bought: every model predicts it, so the score is its share of the test set (no training)
            m = {"n_train": len(splits["train"])}
            score = kept
        else:
            with Heartbeat(store, cell, worker):
                m = train_config(cfg, splits, overwrite=True)
            t = m["test"] if m.get("test") else m.get("dev")
            score = 0.0 if t is None else (t["accuracy"] * kept if t["task"] == "classify" else t["f1"])
        store.finish(cell, score, m["n_train"], time.time() - t0)
        done += 1
        if not quiet:
            rows = store.rows()
            fin = [r for r in rows if r[3] == "done"]
            avg = sum(r[6] for r in fin) / len(fin)
            left = len(rows) - len(fin)
            print(f"[{worker}] {method} budget={budget} seed={seed}: {score:.4f} ({time.time() - t0:.0f}s); "
                  f"{len(fin)}/{len(rows)} done, ETA {left * avg / 60:.1f} min (one worker)", flush=True)


def run_study(st: Study, workers: int = 1, worker_prefix: str | None = None) -> dict:
    import socket

    from ..config import ConfigError
    from .spec import SPEC, check_spec, record_spec
    from .store import open_store

    spec = check_spec(st, base_dict(st))  # a resumed study must have been run with the same settings
    for m in st.methods:  # every method's config is valid before anything is written
        try:
            cfg = cell_config(st, f"{m}@random" if st.acquisition else m, st.budgets[0], st.seeds[0])
        except ConfigError as e:
            raise ConfigError(f"study {st.name or st.output_dir}: methods.{m}: {e}") from None
        if not cfg.data.train:
            raise ConfigError(f"study {st.name or st.output_dir}: method {m}: no training data (set data.train in "
                              f"the base config)")
    fresh_dir, fresh = not os.path.exists(st.output_dir), not os.path.exists(os.path.join(st.output_dir, SPEC))
    fresh_acq = not os.path.exists(os.path.join(st.output_dir, "acquisition"))
    try:
        if st.acquisition:
            acquire(st)  # checks the trajectories already on disk too
        record_spec(st, spec)
        store = open_store(st.store, st.output_dir, st.name)
        store.reset_stale()
        prefix = worker_prefix or (f"{socket.gethostname()}-{os.getpid()}-" if st.store else "")
        store.add([(m, b, s) for m in cell_methods(st) for b in st.budgets for s in st.seeds])
        if workers <= 1:
            _work(st, f"{prefix}w0")
    except BaseException:
        if fresh:
            _undo_start(st, fresh_dir, fresh_acq)
        raise
    if workers > 1:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        procs = [ctx.Process(target=_work, args=(st, f"{prefix}w{i}")) for i in range(workers)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
    return analyse(st, store)


def _undo_start(st: Study, fresh_dir: bool, fresh_acq: bool) -> None:
    """A study that failed before any cell finished leaves nothing behind that would block its corrected rerun (the
    recorded settings would): its SQLite store, spec and trajectories go, and its output_dir if this run made it."""
    import shutil

    from .spec import SPEC
    from .store import open_store

    if st.store:  # a shared store: other machines' cells are not this run's to remove
        return
    db = os.path.join(st.output_dir, "study.db")
    if os.path.exists(db) and open_store(None, st.output_dir, st.name).rows("done"):
        return
    if fresh_dir:
        shutil.rmtree(st.output_dir, ignore_errors=True)
        return
    for p in (db, os.path.join(st.output_dir, SPEC)):
        if os.path.exists(p):
            os.remove(p)
    if fresh_acq:
        shutil.rmtree(os.path.join(st.output_dir, "acquisition"), ignore_errors=True)


def analyse(st: Study, store) -> dict:
    """Fit every method's curve (error vs total labels), label equivalence vs the baseline, labels for target."""
    from ..evaluate.curves import bootstrap, fit_curve, label_equivalence

    rows = store.rows("done")
    out = {"methods": {}, "baseline": baseline_of(st), "target": st.target, "cells": len(rows),
           "seconds": float(sum(x[6] for x in rows)), "acquisition": st.acquisition}
    fits = {}
    for m in cell_methods(st):
        by = {}
        for x in rows:  # every budget, "full" included: the table of scores (the fit leaves "full" out)
            if x[0] == m:
                by.setdefault(str(x[1]), []).append(x[4])
        table = {str(b): by[str(b)] for b in st.budgets if str(b) in by}
        r = [x for x in rows if x[0] == m and x[1] != "full"]
        n = [x[5] for x in r]
        err = [1 - x[4] for x in r]
        entry = {"points": [{"budget": x[1], "seed": x[2], "n_labels": x[5], "score": x[4]} for x in r],
                 "scores": table}
        try:
            f = fit_curve(n, err)
            ci = bootstrap(n, err, B=300, seed=0)
            fits[m] = (f, ci)
            entry["fit"] = {"a": f.a, "b": f.b, "c": f.c, "ci": {k: ci[k] for k in ("a", "b", "c")}}
            if st.target is not None:
                entry["labels_for_target"] = f.labels_for(1 - st.target)
        except ValueError as e:
            entry["fit_error"] = str(e)
        out["methods"][m] = entry
    def equivalence(entry, base):
        bf, bci = fits[base]
        by_budget = {}
        for p in entry["points"]:
            by_budget.setdefault(p["n_labels"], []).append(1 - p["score"])
        return [label_equivalence(bf, n, sum(e) / len(e), bci["fits"]) for n, e in sorted(by_budget.items())]

    if out["baseline"] in fits:
        for m, entry in out["methods"].items():
            entry["equivalence"] = equivalence(entry, out["baseline"])
    if st.acquisition and "random" in st.acquisition["strategies"]:
        for m, entry in out["methods"].items():  # the same method on random labels: what the strategy is worth
            own = f"{m.split('@')[0]}@random"
            if own in fits and own != m:
                entry["worth_vs_random"] = equivalence(entry, own)
    if st.acquisition:
        out["trajectories"] = {}
        for strat in st.acquisition["strategies"]:
            for seed in st.seeds:
                p = _trajectory_path(st, strat, seed)
                if os.path.exists(p):
                    with open(p, encoding="utf-8") as f:
                        tr = json.load(f)
                    out["trajectories"][f"{strat}-{seed}"] = {"steps": tr["steps"], "seconds": tr.get("seconds")}
    os.makedirs(st.output_dir, exist_ok=True)
    from ..runs import write_text

    write_text(os.path.join(st.output_dir, "curve.json"), json.dumps(out, indent=2, default=float))
    return out


def _png(fig) -> str:
    import base64
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def md_to_html(md: str) -> str:
    """The report's markdown (headings, paragraphs, pipe tables) as HTML, escaped."""
    import html

    out = []
    for block in md.strip().split("\n\n"):
        lines = block.strip().splitlines()
        if lines and all(ln.startswith("|") for ln in lines):
            rows = [[html.escape(c.strip()) for c in ln.strip("|").split("|")] for ln in lines
                    if not set(ln) <= set("|-: ")]
            head = "".join(f"<th>{c}</th>" for c in rows[0])
            body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows[1:])
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif lines and lines[0].startswith("# "):
            rest = "".join(f"<p>{html.escape(ln)}</p>" for ln in lines[1:])
            out.append(f"<h2>{html.escape(lines[0][2:])}</h2>{rest}")
        elif lines:
            out.append(f"<p>{html.escape(' '.join(lines))}</p>")
    return "\n".join(out)


def write_report(st: Study, res: dict) -> tuple[str, str]:
    """report.md and a self-contained report.html (plots inlined as PNG data URIs, readable offline)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ..evaluate.curves import CurveFit

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for i, (m, e) in enumerate(res["methods"].items()):
        col = f"C{i}"
        pts = {}
        for p in e["points"]:
            pts.setdefault(p["n_labels"], []).append(1 - p["score"])
        ns = np.array(sorted(pts))
        if not len(ns):
            continue
        mu = np.array([np.mean(pts[n]) for n in ns])
        sd = np.array([np.std(pts[n]) for n in ns])
        ax.errorbar(ns, mu, yerr=sd, fmt="o", color=col, label=m, capsize=3)
        if "fit" in e:
            f = e["fit"]
            xs = np.geomspace(ns.min(), ns.max() * 4, 100)
            ax.plot(xs, CurveFit(f["a"], f["b"], f["c"], ns.min(), ns.max()).predict(xs), color=col)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("labeled examples (total)")
    ax.set_ylabel("test error")
    ax.set_title("Learning curves: err(n) = a n^-b + c")
    ax.legend()
    curves_png = _png(fig)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for i, (m, e) in enumerate(res["methods"].items()):
        eq = [q for q in e.get("equivalence", []) if np.isfinite(q["multiplier"])]
        if not eq or m == res["baseline"]:
            continue
        x = [q["n"] for q in eq]
        y = [q["multiplier"] for q in eq]
        lo = [y_ - q.get("multiplier_ci", (y_, y_))[0] for y_, q in zip(y, eq)]
        hi = [q.get("multiplier_ci", (y_, y_))[1] - y_ for y_, q in zip(y, eq)]
        ax.errorbar(x, y, yerr=[np.maximum(lo, 0), np.maximum(hi, 0)], fmt="o-", color=f"C{i}", label=m, capsize=3)
    ax.axhline(1, color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("labeled examples (total)")
    ax.set_ylabel("label multiplier (n_equiv / n)")
    ax.set_title(f"What each method is worth in {res['baseline']} labels")
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    mult_png = _png(fig)
    plt.close(fig)

    budgets = [str(b) for b in st.budgets]
    acq = []
    if st.acquisition:
        a = st.acquisition
        acq = ["", f"Acquisition: the first batch of a strategy that needs labels by `{a['cold_start']}`; class "
               f"balance {'on (not for random, the control)' if a['balance'] else 'off'}; the strategies see "
               f"`{a['backbone'] or 'the base model'}`'s vectors" + (f"; batches also close at {a['buy_at']} labels "
               f"per class (no cells there)." if a.get("buy_at") else ".")]
    lines = [f"# Learning-curve study: {st.output_dir}", "",
             f"{res['cells']} cells ({res.get('seconds', 0) / 60:.1f} min of cell time); baseline `{res['baseline']}`",
             *acq, "", "Test score per label budget (" + ("labels x classes in all, bought by the strategy after @"
                                                   if st.acquisition else "per class") +
             "; mean +- std over seeds, n = seeds):", "",
             "| method | " + " | ".join(budgets) + " |", "|---|" + "---:|" * len(budgets)]
    for m, e in res["methods"].items():
        sc = e.get("scores", {})
        lines.append(f"| {m} | " + " | ".join(
            f"{np.mean(sc[b]):.4f} +- {np.std(sc[b]):.4f} (n={len(sc[b])})" if sc.get(b) else "-" for b in budgets)
            + " |")
    lines += ["", "Fitted learning curves, err(n) = a n^-b + c over the total number of labels (\"full\" left out):",
              "", "| method | a | b (exponent) | c (irreducible error) | b 95% CI | labels for target |",
              "|---|---:|---:|---:|---|---:|"]
    for m, e in res["methods"].items():
        if "fit" not in e:
            lines.append(f"| {m} | - | - | - | {e.get('fit_error', '')} | - |")
            continue
        f = e["fit"]
        tgt = e.get("labels_for_target")
        t = "-" if tgt is None else ("unreachable" if not tgt["reachable"] else
                                    f"{tgt['n']:.0f}" + (" (extrapolated)" if tgt["extrapolated"] else ""))
        lines.append(f"| {m} | {f['a']:.4f} | {f['b']:.4f} | {f['c']:.4f} | [{f['ci']['b'][0]:.3f}, "
                     f"{f['ci']['b'][1]:.3f}] | {t} |")
    lines += ["", "Label equivalence (labels the baseline would need for the same error):", "",
              "| method | labels | error | baseline labels needed | multiplier | 95% CI |",
              "|---|---:|---:|---:|---:|---|"]
    for m, e in res["methods"].items():
        for q in e.get("equivalence", []):
            ci = q.get("multiplier_ci")
            ci_s = f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "-"
            flag = " (extrapolated)" if q["extrapolated"] else ""
            lines.append(f"| {m} | {q['n']} | {q['err']:.4f} | {q['n_equiv']:.0f}{flag} | {q['multiplier']:.2f} | "
                         f"{ci_s} |")
    worth = [(m, q) for m, e in res["methods"].items() for q in e.get("worth_vs_random", [])]
    if worth:
        lines += ["", "What each strategy's labels are worth in random labels (same method on uniformly random "
                  "labels):", "", "| method@strategy | labels | error | random labels needed | multiplier | 95% CI |",
                  "|---|---:|---:|---:|---:|---|"]
        for m, q in worth:
            ci = q.get("multiplier_ci")
            lines.append(f"| {m} | {q['n']} | {q['err']:.4f} | {q['n_equiv']:.0f}"
                         f"{' (extrapolated)' if q['extrapolated'] else ''} | {q['multiplier']:.2f} | "
                         f"{f'[{ci[0]:.2f}, {ci[1]:.2f}]' if ci else '-'} |")
    md = "\n".join(lines) + "\n"
    body = md_to_html(md)
    style = ("<style>body{font-family:sans-serif;max-width:1100px}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:2px 8px}td{text-align:right}td:first-child{text-align:left}"
             "img{max-width:49%}</style>")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>lowdata study</title>{style}</head><body>"
            f"<h1>Learning-curve study</h1>"
            f"<img id='curves' alt='learning curves' src='data:image/png;base64,{curves_png}'>"
            f"<img id='multipliers' alt='label multipliers' src='data:image/png;base64,{mult_png}'>"
            f"{body}<script>window.addEventListener('load', () => document.body.setAttribute('data-plots', "
            f"[...document.images].filter(i => i.complete && i.naturalWidth > 0).map(i => i.id).join(',')))"
            f"</script></body></html>")
    from ..runs import write_text

    write_text(os.path.join(st.output_dir, "report.md"), md)
    write_text(os.path.join(st.output_dir, "report.html"), page)
    return md, page
