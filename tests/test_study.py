import json
import os
import sqlite3

import yaml

from lowdata.config import to_dict
from lowdata.evaluate.study import Store, load_study, run_study, write_report

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
    rows = Store(db).rows("done")
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
    assert page.count("data:image/png;base64,") == 2 and "http" not in page.replace("<!doctype html>", "")


def test_parallel_workers_split_the_cells(tiny_model, toy_files, tmp_path):
    st = _study(tmp_path, tiny_model, toy_files, budgets=[2, 4, 8], seeds=[0], methods={"baseline": {}})
    run_study(st, workers=2)
    with sqlite3.connect(os.path.join(st.output_dir, "study.db")) as c:
        rows = c.execute("SELECT status, worker FROM cells").fetchall()
    assert [r[0] for r in rows] == ["done"] * 3
    assert {r[1] for r in rows} <= {"w0", "w1"}
