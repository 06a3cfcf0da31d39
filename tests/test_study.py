import json
import os
import re
import sqlite3

import numpy as np
import yaml

from lowdata.config import to_dict
from lowdata.studies.store import Store
from lowdata.studies.study import load_study, run_study, write_report

from .conftest import tiny_cfg


def _study(tmp_path, tiny_model, toy_files, **kw):
    base = to_dict(tiny_cfg(tiny_model, toy_files, "unused", epochs=2))
    base["data"]["dev"] = None
    st = {"base": base, "budgets": [2, 4, 8, 16], "seeds": [0, 1], "target": 0.9,
          "methods": {"baseline": {}, "swap": {"augment.specs": ["swap:alpha=0.3,n=2"]}},
          "output_dir": str(tmp_path / "study"), **kw}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(st))
    return load_study(str(tmp_path / "study.yaml"))


def test_study_runs_resumes_and_reports(tiny_model, toy_files, tmp_path):
    st = _study(tmp_path, tiny_model, toy_files)
    res = run_study(st)
    db = os.path.join(st.output_dir, "study.db")
    rows = Store(db, "study").rows("done")
    assert len(rows) == 16 and res["cells"] == 16
    assert {r[5] for r in rows if r[0] == "baseline"} == {4, 8, 16, 32}  # labels = budget x 2 classes
    base = res["methods"]["baseline"]
    assert "fit" in base and len(base["equivalence"]) == 4
    for q in base["equivalence"]:  # the baseline is worth about 1x itself (its own fitted curve)
        assert 0.3 < q["multiplier"] < 3 or not q["n_equiv"] < float("inf")
    # resume: finished cells are not redone; a cell left "running" by a killed run goes back to pending
    stamp = {d: os.path.getmtime(os.path.join(st.output_dir, "cells", d, "metrics.json"))
             for d in os.listdir(os.path.join(st.output_dir, "cells"))}
    with sqlite3.connect(db) as c:
        c.execute("UPDATE cells SET status='running', score=NULL WHERE method='swap' AND budget='8' AND seed=1")
    run_study(st)
    again = {d: os.path.getmtime(os.path.join(st.output_dir, "cells", d, "metrics.json")) for d in stamp}
    changed = [d for d in stamp if again[d] != stamp[d]]
    assert changed == ["swap-8-1"]
    md, page = write_report(st, json.loads(open(os.path.join(st.output_dir, "curve.json")).read()))
    assert "| baseline |" in md and "Label equivalence" in md
    assert all(len(v) == 2 for v in res["methods"]["swap"]["scores"].values())  # 2 seeds per budget
    assert "| swap | " + " | ".join(f"{np.mean(res['methods']['swap']['scores'][b]):.4f}" for b in ["2"]) in md
    assert page.count("data:image/png;base64,") == 2 and "http" not in page.replace("<!doctype html>", "")


def test_parallel_workers_split_the_cells(tiny_model, toy_files, tmp_path):
    st = _study(tmp_path, tiny_model, toy_files, budgets=[2, 4, 8], seeds=[0], methods={"baseline": {}})
    run_study(st, workers=2)
    with sqlite3.connect(os.path.join(st.output_dir, "study.db")) as c:
        rows = c.execute("SELECT status, worker FROM cells").fetchall()
    assert [r[0] for r in rows] == ["done"] * 3
    assert {r[1] for r in rows} <= {"w0", "w1"}


def test_postgres_store_created_by_many_machines_at_once(postgres_url):
    """Several machines opening the same fresh PostgreSQL database at once all get the table (CREATE TABLE IF NOT
    EXISTS alone races on pg_type's unique index; CI once failed on it)."""
    import threading

    import psycopg

    from lowdata.studies.store import PgStore

    for k in range(4):
        with psycopg.connect(postgres_url, autocommit=True) as c:
            c.execute(f"CREATE DATABASE race{k}")
        url = postgres_url.replace("/postgres?", f"/race{k}?")
        gate, errors = threading.Barrier(8), []

        def opener():
            gate.wait()
            try:
                PgStore(url, "s").add([("m", 1, 0)])
            except Exception as e:  # noqa: BLE001 - the test reports whatever a machine hit
                errors.append(repr(e))

        threads = [threading.Thread(target=opener) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert PgStore(url, "s").rows() == [("m", "1", 0, "pending", None, None, None)]


def test_postgres_store_shared_by_workers_of_two_studies_runs(tiny_model, toy_files, tmp_path, postgres_url):
    """A real PostgreSQL server: two `run_study` calls (as two machines would) with 2 workers each share the cells;
    every cell runs once; a dead worker's cell (stale heartbeat) is claimed again, a live one's is not."""
    import multiprocessing as mp
    import time

    from lowdata.studies.store import PgStore

    st = _study(tmp_path, tiny_model, toy_files, budgets=[2, 4, 8], seeds=[0, 1], methods={"baseline": {}},
                store=postgres_url, name="toy")
    ctx = mp.get_context("spawn")
    machines = [ctx.Process(target=run_study, args=(st, 2, f"m{i}-")) for i in range(2)]
    for p in machines:
        p.start()
    for p in machines:
        p.join()
        assert p.exitcode == 0
    store = PgStore(postgres_url, "toy")
    rows = store.rows()
    assert len(rows) == 6 and all(r[3] == "done" for r in rows)
    assert {w[:3] for *_, w in store.workers()} <= {"m0-", "m1-"}
    assert len(os.listdir(os.path.join(st.output_dir, "cells"))) == 6  # each cell trained once, nothing redone
    # a cell "running" with an old heartbeat (its worker died) goes back to pending; a fresh one stays claimed
    store._exec("UPDATE cells SET status='running', heartbeat=? WHERE budget='8' AND seed=1 AND study='toy'",
                (time.time() - 3600,))
    store._exec("UPDATE cells SET status='running', heartbeat=? WHERE budget='8' AND seed=0 AND study='toy'",
                (time.time(),))
    store.reset_stale()
    status = {(r[1], r[2]): r[3] for r in store.rows()}
    assert status[("8", 1)] == "pending" and status[("8", 0)] == "running"
    assert store.claim("x") == ("baseline", "8", 1) and store.claim("y") is None
    # another study in the same database keeps its own cells
    assert PgStore(postgres_url, "other").rows() == []


def _fake_study(tmp_path):
    """A study store filled with synthetic finished cells (no training): two methods on known curves."""
    from lowdata.studies.study import Study, analyse

    st = Study(budgets=[4, 8, 16, 32, 64], seeds=[0, 1, 2], methods={"baseline": {}, "ssl": {}},
               output_dir=str(tmp_path / "study"), target=0.9)
    store = Store(os.path.join(st.output_dir, "study.db"), "study")
    cells = [(m, b, s) for m in st.methods for b in st.budgets for s in st.seeds]
    store.add(cells)
    for m, b, s in cells:
        n = 2 * b
        err = 0.8 * n ** -0.4 + 0.05 if m == "baseline" else 0.8 * (4 * n) ** -0.4 + 0.05
        store.claim("w")
        store.finish((m, str(b), s), 1 - err + 0.002 * (s - 1), n, 1.0)
    return st, analyse(st, store)


def test_report_html_renders_plots_in_headless_chromium(tmp_path):
    import subprocess

    from .conftest import chromium, chromium_args

    exe = chromium()
    st, res = _fake_study(tmp_path)
    ssl = res["methods"]["ssl"]["equivalence"]
    assert all(2.5 < q["multiplier"] < 6 for q in ssl)  # built 4x more label-efficient: the fit says so
    write_report(st, res)
    page = os.path.join(st.output_dir, "report.html")
    url = "file://" + os.path.abspath(page)
    dom = subprocess.run([exe, *chromium_args(tmp_path / "profile"), "--virtual-time-budget=5000", "--dump-dom",
                          url], capture_output=True, text=True, timeout=120)
    assert 'data-plots="curves,multipliers"' in dom.stdout, dom.stderr[-2000:]  # both images decoded
    assert dom.stdout.count("<table>") == 3 and "<td>ssl</td>" in dom.stdout  # scores, fits, equivalence tables
    shot = tmp_path / "shot.png"
    subprocess.run([exe, *chromium_args(tmp_path / "profile2"), "--window-size=1400,1000",
                    f"--screenshot={shot}", url], capture_output=True, timeout=120)
    import matplotlib.image as mpimg
    import numpy as np

    img = mpimg.imread(str(shot))[..., :3]
    assert img.shape[:2] == (1000, 1400)
    colored = (np.abs(img - img.mean(-1, keepdims=True)).sum(-1) > 0.15).mean()  # plot lines/markers are coloured
    assert colored > 0.002, colored


def test_by_budget_overrides_only_their_cells_and_test_sample_is_one_fixed_draw(tiny_model, toy_files, tmp_path):
    from lowdata.config import ConfigError
    from lowdata.data.splits import load_splits
    from lowdata.studies.study import cell_config

    st = _study(tmp_path, tiny_model, toy_files, budgets=[2, "full"],
                by_budget={"full": {"train.epochs": 1, "train.batch_size": 4}},
                methods={"baseline": {"train.lr": 0.01, "data.test_sample": 5}, "own": {"train.epochs": 5}})
    small, full = cell_config(st, "baseline", 2, 0), cell_config(st, "baseline", "full", 1)
    assert (small.train.epochs, small.train.batch_size, small.train.lr) == (2, 8, 0.01)
    assert (full.train.epochs, full.train.batch_size, full.data.k_per_class, full.train.lr) == (1, 4, None, 0.01)
    own = cell_config(st, "own", "full", 0)  # the method's own setting wins over the budget's
    assert (own.train.epochs, own.train.batch_size) == (5, 4)
    tests = [load_splits(c.data, seed=c.train.seed)["test"] for c in (small, full)]
    assert len(tests[0]) == 5 and tests[0].texts == tests[1].texts  # same draw whatever the run's seed
    whole = load_splits(cell_config(st, "baseline", 2, 0).data.__class__(**{**vars(small.data), "test_sample": 0}))
    assert len(whole["test"]) > 5 and set(tests[0].texts) <= set(whole["test"].texts)
    try:
        _study(tmp_path, tiny_model, toy_files, budgets=[2], by_budget={"full": {"train.epochs": 1}})
    except ConfigError as e:
        assert "full" in str(e) and "budgets" in str(e)
    else:
        raise AssertionError("by_budget naming a budget not studied must be refused")


def test_study_cells_go_through_the_whole_pipeline(tiny_model, toy_files, tmp_path):
    """A study method can be any train config: self-training rounds run (not a silent plain fine-tune)."""
    st = _study(tmp_path, tiny_model, toy_files, budgets=[4], seeds=[0],
                methods={"baseline": {}, "st": {"ssl.method": "self_training", "ssl.rounds": 2,
                                                "ssl.threshold": 0.5}})
    res = run_study(st)
    assert res["cells"] == 2
    cell = os.path.join(st.output_dir, "cells", "st-4-0")
    assert os.path.exists(os.path.join(cell, "round_1", "metrics.json"))
    hist = json.load(open(os.path.join(cell, "self_training.json")))
    assert [h["round"] for h in hist] == [0, 1]


def test_a_resumed_study_must_keep_its_settings(tiny_model, toy_files, tmp_path):
    import pytest

    from lowdata.config import ConfigError
    from lowdata.studies.spec import SPEC, check_spec, record_spec
    from lowdata.studies.study import base_dict

    st = _study(tmp_path, tiny_model, toy_files, budgets=[2], seeds=[0], methods={"baseline": {}})
    run_study(st)
    spec_path = os.path.join(st.output_dir, SPEC)
    recorded = json.load(open(spec_path))
    assert recorded["methods"] == {"baseline": {}} and recorded["base"]["train"]["epochs"] == 2
    db = os.path.join(st.output_dir, "study.db")
    before = open(db, "rb").read()
    # a method's settings changed under the same name: refused before anything runs or is written
    st.methods = {"baseline": {"train.lr": 1e-3}}
    with pytest.raises(ConfigError, match=r"methods\.baseline\.train\.lr changed.*use a new output_dir"):
        run_study(st)
    st.methods = {"baseline": {}}
    st.base["train"]["epochs"] = 3
    with pytest.raises(ConfigError, match=r"base\.train\.epochs changed"):
        run_study(st)
    assert open(db, "rb").read() == before and json.load(open(spec_path)) == recorded
    # adding a method, a budget or a seed extends the study; the record keeps every method seen
    st.base["train"]["epochs"] = 2
    st.methods = {"swap": {"augment.specs": ["swap:alpha=0.3,n=2"]}}
    st.baseline = "swap"
    record_spec(st, check_spec(st, base_dict(st)))
    assert set(json.load(open(spec_path))["methods"]) == {"baseline", "swap"}
    st.methods = {"baseline": {"train.lr": 1e-3}}
    st.baseline = "baseline"
    with pytest.raises(ConfigError, match="methods.baseline.train.lr"):
        check_spec(st, base_dict(st))
    open(spec_path, "w").write("{not json")
    with pytest.raises(ConfigError, match="unreadable study record"):
        check_spec(st, base_dict(st))


def test_a_failed_start_leaves_nothing_that_blocks_the_corrected_rerun(tiny_model, toy_files, tmp_path):
    """The first cell fails (its training file is missing) before any cell finishes: the recorded settings, the store
    and the folder go, so the study with data.train corrected runs (it was refused: 'run with other settings')."""
    import pytest

    from lowdata.data import DataError

    st = _study(tmp_path, tiny_model, toy_files, budgets=[2], seeds=[0], methods={"baseline": {}})
    st.base["data"]["train"] = str(tmp_path / "missing.tsv")
    with pytest.raises(DataError, match="missing.tsv"):
        run_study(st)
    assert not os.path.exists(st.output_dir)
    st.base["data"]["train"] = str(toy_files / "train.tsv")
    assert run_study(st)["cells"] == 1


def test_a_bad_method_key_names_the_method_before_any_cell(tiny_model, toy_files, tmp_path):
    import pytest

    from lowdata.config import ConfigError

    st = _study(tmp_path, tiny_model, toy_files, budgets=[2], seeds=[0],
                methods={"baseline": {}, "ft": {"train.lrx": 1}})
    with pytest.raises(ConfigError, match="methods.ft: .*unknown key 'lrx'"):
        run_study(st)
    assert not os.path.exists(st.output_dir)


def test_study_file_errors_name_the_file_and_what_was_expected(tmp_path):
    import pytest

    from lowdata.config import ConfigError

    cases = [("budgets: [4, 8\n", "line 2: invalid YAML"), ("- a\n", "expected a mapping of study keys"),
             ("budgets: [4, -1]\n", "budgets: expected integers >= 1"), ("budgets: []\n", "non-empty list"),
             ("seeds: [0, x]\n", "seeds must be a non-empty list of integers"),
             ("methods: {a: [1]}\n", "methods.a: expected a mapping of config overrides"),
             # accepted before: [0, 0] ran each cell once and counted it twice; "high" failed after every cell ran
             ("seeds: [0, 0]\n", "seeds: 0 given more than once"), ("budgets: [4, 4]\n", "budgets: 4 given more"),
             ("target: high\n", "target: expected a score between 0 and 1"),
             ("methods: {ft: {}}\n", "baseline 'baseline' (not given: the default) is not one of the methods")]
    for text, needle in cases:
        p = tmp_path / "s.yaml"
        p.write_text(text)
        with pytest.raises(ConfigError, match=re.escape(needle)):
            load_study(str(p))
