"""Stabilising predictions across real `lowdata select` rounds (lowdata.active.history, select --history)."""
import json
import os
import subprocess
import sys

import pytest

from lowdata.active import history as H
from lowdata.active.run import select_file
from lowdata.data import DataError
from lowdata.errors import RunError


def test_rounds_read_kappa_and_stop_after_three_stable_rounds(tmp_path):
    h = H.new([f"text {i}" for i in range(30)] + ["text 1"], size=20)
    assert len(h["stop_set"]["texts"]) == 20 == len(set(h["stop_set"]["ids"]))
    assert h["stop_set"]["ids"] == sorted(h["stop_set"]["ids"])
    base = ["a"] * 10 + ["b"] * 10
    r = H.add_round(h, base, "d1", 4, "s")
    assert r == {"round": 1, "kappa": None, "stable": 0, "stop": False, "added": True}
    flipped = ["b"] + base[1:]
    r = H.add_round(h, flipped, "d2", 8, "s")
    assert r["added"] and r["kappa"] == pytest.approx(0.9, abs=1e-9) and r["stable"] == 0  # 1 of 20 flipped
    assert H.add_round(h, base, "d2", 8, "s")["added"] is False  # the same labels again: no round
    assert len(h["rounds"]) == 2
    for i, want in ((3, 1), (4, 2), (5, 3)):
        r = H.add_round(h, flipped, f"d{i}", 4 * i, "s")
        assert r["kappa"] == 1.0 and r["stable"] == want and r["stop"] == (want >= 3)
    r = H.add_round(h, base, "d6", 24, "s")  # a change resets the run
    assert r["stable"] == 0 and not r["stop"]
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    m = H.model_digest(str(tmp_path))
    assert m == H.model_digest(str(tmp_path)) and m.startswith("model:")
    assert H.add_round(h, base, m, 0, "model")["added"] and not H.add_round(h, base, m, 0, "model")["added"]


def test_a_file_that_is_not_a_history_fails_and_is_left_alone(tmp_path):
    p = tmp_path / "h.json"
    assert H.load(str(p)) is None
    for text in ("not json", json.dumps({"format": "other"}), json.dumps([1, 2])):
        p.write_text(text)
        with pytest.raises(DataError, match="h.json: not a lowdata select history"):
            H.load(str(p))
        assert p.read_text() == text
    h = H.new(["x", "y", "z"])
    h["stop_set"]["texts"][1] = "edited"
    p.write_text(json.dumps(h))
    with pytest.raises(DataError, match="stop-set text 2 does not match"):
        H.load(str(p))
    h = H.new(["x", "y", "z"])
    h["rounds"].append({"predictions": ["a"]})  # one prediction for three texts
    p.write_text(json.dumps(h))
    with pytest.raises(DataError, match="not a lowdata select history"):
        H.load(str(p))


def test_select_history_across_rounds(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("LOWDATA_CACHE", str(tmp_path / "cache"))
    pool = [f"{'good great' if i % 2 else 'bad awful'} film {i}" for i in range(40)]
    (tmp_path / "pool.txt").write_text("\n".join(pool) + "\n")

    def labeled(name, n):
        (tmp_path / name).write_text("text\tlabel\n" + "".join(
            f"{t}\t{'pos' if i % 2 else 'neg'}\n" for i, t in enumerate(pool[:n])))
        return str(tmp_path / name)

    hist = str(tmp_path / "rounds.json")
    kw = {"backbone": tiny_model, "max_length": 32, "progress": False, "history": hist}
    r = select_file(str(tmp_path / "pool.txt"), str(tmp_path / "b0.csv"), "random", 4, **kw)  # cold start
    assert r["stopping"]["round"] == 0
    h = json.loads(open(hist).read())
    assert len(h["stop_set"]["texts"]) == 40 and h["rounds"] == []
    r = select_file(str(tmp_path / "pool.txt"), str(tmp_path / "b1.csv"), "margin", 4, labeled=labeled("l1.tsv", 6),
                    **kw)
    assert r["stopping"]["round"] == 1 and r["stopping"]["kappa"] is None
    assert "predictions" not in json.dumps(r)  # the history stays out of the batch's record
    before = open(hist).read()
    r = select_file(str(tmp_path / "pool.txt"), str(tmp_path / "b1b.csv"), "margin", 4,
                    labeled=labeled("l1b.tsv", 6), **kw)
    assert r["stopping"]["added"] is False and open(hist).read() == before  # the same labels: no round
    r = select_file(str(tmp_path / "pool.txt"), str(tmp_path / "b2.csv"), "margin", 4, labeled=labeled("l2.tsv", 12),
                    **kw)
    h = json.loads(open(hist).read())
    assert r["stopping"]["round"] == 2 == len(h["rounds"]) and isinstance(r["stopping"]["kappa"], float)
    assert h["rounds"][0]["labels"] == 6 and h["rounds"][1]["labels"] == 12
    assert all(len(x["predictions"]) == 40 and set(x["predictions"]) <= {"pos", "neg"} for x in h["rounds"])
    # never over an input; a failed check writes nothing
    with pytest.raises(RunError, match="never writes over its input"):
        select_file(str(tmp_path / "pool.txt"), str(tmp_path / "b3.csv"), "margin", 4,
                    labeled=str(tmp_path / "l2.tsv"), **{**kw, "history": str(tmp_path / "l2.tsv")})
    assert not (tmp_path / "b3.csv").exists()
    # the CLI prints the rule's reading
    out = subprocess.run([sys.executable, "-m", "lowdata.cli", "select", "--pool", str(tmp_path / "pool.txt"),
                          "--labeled", labeled("l3.tsv", 18), "--n", "4", "--strategy", "margin", "--backbone",
                          tiny_model, "--max-length", "32", "-o", str(tmp_path / "b4.csv"), "--no-progress",
                          "--history", hist], capture_output=True, text=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr
    assert "round 3, kappa" in out.stdout and "stabilising predictions stop at 3" in out.stdout


def test_a_retrained_model_folder_is_a_new_round(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    first = H.model_digest(str(tmp_path))
    (tmp_path / "model.safetensors").write_bytes(b"retrained")
    assert H.model_digest(str(tmp_path)) != first
