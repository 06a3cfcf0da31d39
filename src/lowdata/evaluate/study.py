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
    target: 0.90                            # report the labels each method needs for this score
    output_dir: runs/study

The store is SQLite (`output_dir/study.db`): a worker claims the next pending cell in a transaction (BEGIN
IMMEDIATE), so `--workers N` processes never run a cell twice, and a killed study resumes without redoing finished
cells (cells left "running" by a dead run go back to pending on the next start).
Scores: test accuracy (classification) or entity F1 (NER); curves are fitted on error = 1 - score against the
total number of labels (per-class budget x classes).
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass, field


@dataclass
class Study:
    base: object = None
    budgets: list = field(default_factory=lambda: [4, 8, 16, 32])
    seeds: list = field(default_factory=lambda: [0, 1, 2])
    methods: dict = field(default_factory=lambda: {"baseline": {}})
    baseline: str = "baseline"
    target: float | None = None
    output_dir: str = "runs/study"


def load_study(path: str) -> Study:
    import yaml

    from ..config import ConfigError

    with open(path, encoding="utf-8") as f:
        d = yaml.safe_load(f) or {}
    valid = set(Study.__dataclass_fields__)
    bad = set(d) - valid
    if bad:
        raise ConfigError(f"{path}: unknown study keys {sorted(bad)} (valid: {', '.join(sorted(valid))})")
    st = Study(**d)
    if st.baseline not in st.methods:
        raise ConfigError(f"{path}: baseline {st.baseline!r} is not one of the methods {list(st.methods)}")
    if isinstance(st.base, str) and not os.path.isabs(st.base) and not os.path.exists(st.base):
        cand = os.path.join(os.path.dirname(path), st.base)
        st.base = cand if os.path.exists(cand) else st.base
    return st


class Store:
    """SQLite cell store. Each cell: (method, budget, seed) -> status, score, n_labels, seconds."""

    def __init__(self, path: str):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path = path
        with self._conn() as c:
            c.execute("CREATE TABLE IF NOT EXISTS cells (method TEXT, budget TEXT, seed INTEGER, status TEXT, "
                      "score REAL, n_labels INTEGER, seconds REAL, worker TEXT, PRIMARY KEY (method, budget, seed))")

    def _conn(self):
        return sqlite3.connect(self.path, timeout=60, isolation_level=None)

    def add(self, cells):
        with self._conn() as c:
            c.executemany("INSERT OR IGNORE INTO cells (method, budget, seed, status) VALUES (?, ?, ?, 'pending')",
                          [(m, str(b), s) for m, b, s in cells])

    def reset_stale(self):
        with self._conn() as c:
            c.execute("UPDATE cells SET status='pending', worker=NULL WHERE status='running'")

    def claim(self, worker: str):
        c = self._conn()
        try:
            c.execute("BEGIN IMMEDIATE")
            row = c.execute("SELECT method, budget, seed FROM cells WHERE status='pending' "
                            "ORDER BY CAST(budget AS INTEGER), method, seed LIMIT 1").fetchone()
            if row:
                c.execute("UPDATE cells SET status='running', worker=? WHERE method=? AND budget=? AND seed=?",
                          (worker, *row))
            c.execute("COMMIT")
            return row
        finally:
            c.close()

    def finish(self, cell, score: float, n_labels: int, seconds: float):
        with self._conn() as c:
            c.execute("UPDATE cells SET status='done', score=?, n_labels=?, seconds=? WHERE method=? AND budget=? "
                      "AND seed=?", (score, n_labels, seconds, *cell))

    def rows(self, status: str | None = None):
        with self._conn() as c:
            q = "SELECT method, budget, seed, status, score, n_labels, seconds FROM cells"
            return c.execute(q + (" WHERE status=?" if status else ""), (status,) if status else ()).fetchall()


def cell_config(st: Study, method: str, budget: str, seed: int):
    from ..config import apply_overrides, from_dict, load_config, to_dict

    base = load_config(st.base) if isinstance(st.base, str) else from_dict(st.base or {}, "study.base")
    d = to_dict(base)
    overrides = [f"{k}={json.dumps(v)}" for k, v in (st.methods[method] or {}).items()]
    apply_overrides(d, overrides)
    d["data"]["k_per_class"] = None if budget == "full" else int(budget)
    d["data"]["sample_seed"] = seed
    d["train"]["seed"] = seed
    d["train"]["progress"] = False
    d["train"]["save_every"] = 0
    d["output_dir"] = os.path.join(st.output_dir, "cells", f"{method}-{budget}-{seed}")
    return from_dict(d, "study cell")


def _work(st: Study, worker: str, quiet: bool = False) -> int:
    from ..train import run

    store = Store(os.path.join(st.output_dir, "study.db"))
    done = 0
    while True:
        cell = store.claim(worker)
        if cell is None:
            return done
        method, budget, seed = cell
        t0 = time.time()
        cfg = cell_config(st, method, budget, seed)
        m = run(cfg, overwrite=True)
        t = m["test"] if m.get("test") else m.get("dev")
        score = t["accuracy"] if t["task"] == "classify" else t["f1"]
        store.finish(cell, score, m["n_train"], time.time() - t0)
        done += 1
        if not quiet:
            rows = store.rows()
            fin = [r for r in rows if r[3] == "done"]
            avg = sum(r[6] for r in fin) / len(fin)
            left = len(rows) - len(fin)
            print(f"[{worker}] {method} budget={budget} seed={seed}: {score:.4f} ({time.time() - t0:.0f}s); "
                  f"{len(fin)}/{len(rows)} done, ETA {left * avg / 60:.1f} min (one worker)", flush=True)


def run_study(st: Study, workers: int = 1) -> dict:
    store = Store(os.path.join(st.output_dir, "study.db"))
    store.reset_stale()
    store.add([(m, b, s) for m in st.methods for b in st.budgets for s in st.seeds])
    if workers <= 1:
        _work(st, "w0")
    else:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        procs = [ctx.Process(target=_work, args=(st, f"w{i}")) for i in range(workers)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
    return analyse(st, store)


def analyse(st: Study, store: Store) -> dict:
    """Fit every method's curve (error vs total labels), label equivalence vs the baseline, labels for target."""
    from .curves import bootstrap, fit_curve, label_equivalence

    rows = store.rows("done")
    out = {"methods": {}, "baseline": st.baseline, "target": st.target, "cells": len(rows)}
    fits = {}
    for m in st.methods:
        r = [x for x in rows if x[0] == m and x[1] != "full"]
        n = [x[5] for x in r]
        err = [1 - x[4] for x in r]
        entry = {"points": [{"budget": x[1], "seed": x[2], "n_labels": x[5], "score": x[4]} for x in r]}
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
    if st.baseline in fits:
        bf, bci = fits[st.baseline]
        for m, entry in out["methods"].items():
            by_budget = {}
            for p in entry["points"]:
                by_budget.setdefault(p["n_labels"], []).append(1 - p["score"])
            entry["equivalence"] = [label_equivalence(bf, n, sum(e) / len(e), bci["fits"])
                                    for n, e in sorted(by_budget.items())]
    os.makedirs(st.output_dir, exist_ok=True)
    with open(os.path.join(st.output_dir, "curve.json"), "w") as f:
        json.dump(out, f, indent=2, default=float)
    return out


def _png(fig) -> str:
    import base64
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def write_report(st: Study, res: dict) -> tuple[str, str]:
    """report.md and a self-contained report.html (plots inlined as PNG data URIs, readable offline)."""
    import html

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from .curves import CurveFit

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

    lines = [f"# Learning-curve study: {st.output_dir}", "", f"{res['cells']} cells; baseline `{res['baseline']}`", "",
             "| method | a | b (exponent) | c (irreducible error) | b 95% CI | labels for target |",
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
              "| method | labels | error | baseline labels needed | multiplier | 95% CI |", "|---|---:|---:|---:|---:|---|"]
    for m, e in res["methods"].items():
        for q in e.get("equivalence", []):
            ci = q.get("multiplier_ci")
            ci_s = f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "-"
            flag = " (extrapolated)" if q["extrapolated"] else ""
            lines.append(f"| {m} | {q['n']} | {q['err']:.4f} | {q['n_equiv']:.0f}{flag} | {q['multiplier']:.2f} | "
                         f"{ci_s} |")
    md = "\n".join(lines) + "\n"
    body = "".join(f"<pre>{html.escape(md)}</pre>")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>lowdata study</title></head><body>"
            f"<h1>Learning-curve study</h1>"
            f"<img id='curves' alt='learning curves' src='data:image/png;base64,{curves_png}'>"
            f"<img id='multipliers' alt='label multipliers' src='data:image/png;base64,{mult_png}'>"
            f"{body}</body></html>")
    with open(os.path.join(st.output_dir, "report.md"), "w") as f:
        f.write(md)
    with open(os.path.join(st.output_dir, "report.html"), "w") as f:
        f.write(page)
    return md, page
