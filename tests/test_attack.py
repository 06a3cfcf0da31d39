"""Adversarial attacks: transformations, the greedy search's guarantees, the report and the CLI verb."""
import json

import pytest

from lowdata.augment.noise import _NEIGH
from lowdata.augment.rng import Stream
from lowdata.cli import main
from lowdata.robust.attack import Transformation, Victim, attack
from lowdata.methods.finetune import run

from .conftest import data_path, tiny_cfg


@pytest.fixture(scope="module")
def victim_dir(tiny_model, tmp_path_factory):
    import random

    d = tmp_path_factory.mktemp("victim")
    rng = random.Random(0)
    pos, neg = ["good", "great", "fine", "nice"], ["bad", "awful", "poor", "worse"]
    for name, n in (("train", 64), ("dev", 32), ("test", 40)):
        rows = []
        for _ in range(n):
            lab = rng.choice(["pos", "neg"])
            words = [rng.choice(pos if lab == "pos" else neg) for _ in range(rng.randint(1, 3))]
            rows.append(f"{lab}\t{' '.join(words)} movie")
        (d / f"{name}.tsv").write_text("\n".join(rows) + "\n")
    m = run(tiny_cfg(tiny_model, d, d / "run", epochs=6, save_every=0))
    assert m["test"]["accuracy"] >= 0.9
    return d


def _one_edit(a: str, b: str) -> bool:
    if len(b) == len(a) - 1:
        return any(a[:i] + a[i + 1:] == b for i in range(len(a)))
    if len(b) != len(a):
        return False
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    if len(diff) == 1:
        return b[diff[0]].lower() in _NEIGH[a[diff[0]].lower()]
    return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]


def test_typo_candidates_are_one_edit_away_and_capped():
    tf = Transformation("typo")
    ws, sep, syn = tf.split("Wonderful movie")
    c = tf.candidates(ws[0], Stream(1), syn)
    assert 0 < len(c) <= 30 and ws[0] not in c and all(_one_edit(ws[0], x) for x in c)
    assert tf.candidates("Wonderful", Stream(1), syn) == c  # same stream seed, same draw
    assert not tf.eligible("the") and not tf.eligible("42") and tf.eligible("film")


def test_synonym_candidates_from_wordnet_keep_case_and_single_words():
    data_path("wordnet-3.0")
    tf = Transformation("synonym")
    ws, sep, syn = tf.split("Happy people")
    c = tf.candidates(ws[0], Stream(0), syn)
    assert "Felicitous" in c and all(" " not in x and x[0].isupper() for x in c)
    with pytest.raises(ValueError, match="valid: synonym, typo"):
        Transformation("homoglyph")


def test_attack_results_are_verified_against_the_victim(victim_dir):
    from lowdata.data import read

    victim = Victim.load(str(victim_dir / "run" / "model"))
    data = read(str(victim_dir / "test.tsv"), task="classify")
    res = attack(victim, data.texts, data.labels, recipe="typo", max_rate=1.0, progress=False)
    s, recs = res["summary"], res["records"]
    assert s["n"] == 40 and s["accuracy"] >= 0.9
    assert s["success_rate"] > 0.3 and s["accuracy_under_attack"] < s["accuracy"]
    assert s["accuracy_under_attack"] == pytest.approx(s["accuracy"] * (1 - s["success_rate"]))
    won = [r for r in recs if r["status"] == "success"]
    fresh = victim.probs([r["adversarial"] for r in won]).argmax(1)  # the victim really is fooled
    for r, p in zip(won, fresh):
        assert victim.labels.names[p] == r["adv_pred"] != r["label"]
        ws, adv = r["text"].split(), r["adversarial"].split()
        assert len(ws) == len(adv) and {i for i, (a, b) in enumerate(zip(ws, adv)) if a != b} == \
            {c[0] for c in r["changed"]}
        assert all(_one_edit(old, new) for _, old, new in r["changed"])
    for r in recs:
        if r["status"] == "skipped":
            assert r["pred"] != r["label"] and r["adversarial"] == r["text"]
    again = attack(victim, data.texts, data.labels, recipe="typo", max_rate=1.0, progress=False)
    assert again["records"] == recs  # deterministic
    tight = attack(victim, data.texts, data.labels, recipe="typo", max_rate=0.2, progress=False)
    for r in tight["records"]:  # budget: max(1, int(0.2 * words)) words
        assert len(r["changed"]) <= max(1, int(0.2 * len(r["text"].split())))


def test_attack_cli_writes_report_and_refuses_to_overwrite(victim_dir, tmp_path, capsys):
    out = tmp_path / "atk"
    args = ["attack", "--model", str(victim_dir / "run" / "model"), "--data", str(victim_dir / "test.tsv"),
            "--recipe", "typo", "--max-rate", "1.0", "--n", "12", "-o", str(out)]
    assert main(args) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["n"] == 12 and "accuracy under attack" in (out / "report.md").read_text()
    assert "12 of 40 texts sampled" in (out / "report.md").read_text()
    assert len((out / "adversarial.jsonl").read_text().splitlines()) == 12
    before = (out / "summary.json").read_text()
    assert main(args) == 2 and "--overwrite" in capsys.readouterr().err
    assert (out / "summary.json").read_text() == before
