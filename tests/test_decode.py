"""Constrained Viterbi decoding of NER tags (lowdata.evaluate.decode)."""
import itertools
import json

import pytest
import torch

from lowdata.evaluate.decode import allowed, choose_decode, decode, model_decode, scheme, violations

from .conftest import save_random_model

IOB2 = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
IOBES = ["O", "B-X", "I-X", "E-X", "S-X", "B-Y", "I-Y", "E-Y", "S-Y"]
BILOU = ["O", "B-A", "I-A", "L-A", "U-A"]


def legal(seq, names):
    start, trans, end = allowed(names, scheme(names))
    return bool(start[seq[0]] and end[seq[-1]] and all(trans[a, b] for a, b in zip(seq, seq[1:])))


def test_scheme_is_read_off_the_label_names():
    assert scheme(IOB2) == "IOB2" and scheme(["O", "B-PER"]) == "IOB2"
    assert scheme(IOBES) == "IOBES" and scheme(BILOU) == "BILOU"
    assert scheme(["O", "I-PER"]) is None  # a type that could never begin (IO tags)
    assert scheme(["O", "PER", "LOC"]) is None and scheme(["O"]) is None and scheme(["O", "X-PER"]) is None


@pytest.mark.parametrize("names", [IOB2, IOBES, BILOU], ids=["IOB2", "IOBES", "BILOU"])
def test_viterbi_is_the_best_legal_sequence_by_enumeration(names):
    g = torch.Generator().manual_seed(0)
    C = len(names)
    for _ in range(25):
        T = int(torch.randint(1, 5, (1,), generator=g))
        L = torch.randn(T, C, generator=g) * 3
        lp = torch.log_softmax(L, -1)
        best = max((s for s in itertools.product(range(C), repeat=T) if legal(s, names)),
                   key=lambda s: float(sum(lp[t, j] for t, j in enumerate(s))))
        assert decode([L], names, "viterbi") == [list(best)]


def test_a_batch_of_mixed_lengths_decodes_as_one_by_one():
    g = torch.Generator().manual_seed(1)
    rows = [torch.randn(n, len(IOBES), generator=g) * 3 for n in (0, 1, 7, 3, 12, 2)]
    got = decode(rows, IOBES, "viterbi", batch=4)
    assert got == [decode([r], IOBES, "viterbi")[0] for r in rows]
    assert [len(p) for p in got] == [0, 1, 7, 3, 12, 2] and all(legal(p, IOBES) for p in got if p)
    assert decode(rows, IOBES, "argmax") == [r.argmax(-1).tolist() for r in rows]


def test_viterbi_mends_what_argmax_breaks():
    p = torch.tensor([[0.9, 0.02, 0.04, 0.02, 0.02],   # O
                      [0.3, 0.05, 0.4, 0.2, 0.05],     # argmax I-PER after O: illegal
                      [0.1, 0.05, 0.35, 0.1, 0.4]])    # argmax I-LOC after I-PER: illegal
    assert decode([p.log()], IOB2, "argmax") == [[0, 2, 4]]
    assert decode([p.log()], IOB2, "viterbi") == [[0, 3, 4]]  # O B-LOC I-LOC: the most probable legal path


def test_auto_keeps_argmax_where_the_training_tags_break_the_scheme():
    iob1 = [["O", "I-PER", "I-PER"], ["I-LOC", "O"]] * 10  # IOB1: entities start with I-
    assert choose_decode("auto", IOB2, iob1)[0] == "argmax"
    assert "20 of 20 training sentences break IOB2" in choose_decode("auto", IOB2, iob1)[1]
    clean = [["B-PER", "I-PER", "O"]] * 300 + [["O", "I-LOC"]] * 3  # 1% stray errors (Weibo: 8 of 1,350)
    assert violations(clean, IOB2, "IOB2") == 3 and choose_decode("auto", IOB2, clean) == ("viterbi", "IOB2")
    assert choose_decode("viterbi", IOB2, iob1) == ("viterbi", "IOB2")  # asked for: the user's call
    assert choose_decode("argmax", IOB2, clean)[0] == "argmax"
    assert choose_decode("auto", ["O", "PER"], [["PER"]])[0] == "argmax"
    from lowdata.config import ConfigError

    with pytest.raises(ConfigError, match="model.ner_decode=viterbi needs IOB2, IOBES or BILOU tags"):
        choose_decode("viterbi", ["O", "PER"], [["PER"]])


def test_ner_decode_is_a_checked_config_key():
    from lowdata.config import ConfigError, from_dict

    assert from_dict({"model": {"ner_decode": "argmax"}}).model.ner_decode == "argmax"
    with pytest.raises(ConfigError, match="model.ner_decode"):
        from_dict({"model": {"ner_decode": "beam"}})


def test_a_trained_tagger_records_and_uses_its_decoding(tiny_model, toy_ner, tmp_path):
    from lowdata.methods.finetune import run

    from .conftest import tiny_cfg

    m = run(tiny_cfg(tiny_model, toy_ner, tmp_path / "ner", task="ner", ext="conll", epochs=15))
    assert m["ner_decode"] == "viterbi" and m["test"]["f1"] >= 0.9
    assert json.loads((tmp_path / "ner" / "model" / "lowdata.json").read_text())["ner_decode"] == "viterbi"
    assert "NER tags decoded by viterbi (IOB2)" in (tmp_path / "ner" / "report.md").read_text()
    from lowdata.cli import main

    assert main(["eval", "--model", str(tmp_path / "ner" / "model"), "--data", str(toy_ner / "test.conll"),
                 "--out", str(tmp_path / "ev")]) == 0
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["f1"] == m["test"]["f1"]  # same decoding


def test_predict_decodes_as_the_model_says(tiny_model, tmp_path):
    from lowdata.cli import main

    path = save_random_model(tiny_model, tmp_path / "t", "ner", IOB2, scale=6.0)[0]
    words = "john lives in oslo with mary and paul near rome today".split()
    (tmp_path / "in.txt").write_text("\n".join(" ".join(words[i:] + words[:i]) for i in range(len(words))) + "\n")
    outs = {}
    for mode in (None, "viterbi", "argmax"):
        meta = json.loads((tmp_path / "t" / "lowdata.json").read_text())
        meta.pop("ner_decode", None)
        if mode:
            meta["ner_decode"] = mode
        (tmp_path / "t" / "lowdata.json").write_text(json.dumps(meta))
        out = tmp_path / f"{mode}.jsonl"
        assert main(["predict", "--model", path, "-i", str(tmp_path / "in.txt"), "-o", str(out)]) == 0
        outs[mode] = [json.loads(x)["pred"] for x in out.read_text().splitlines()]
    ix = {n: i for i, n in enumerate(IOB2)}
    assert outs[None] == outs["argmax"]  # a model saved before ner_decode existed keeps its argmax
    assert any(not legal([ix[t] for t in p], IOB2) for p in outs["argmax"])  # the random head writes illegal tags
    assert all(legal([ix[t] for t in p], IOB2) for p in outs["viterbi"])
    meta["ner_decode"] = "beam"
    (tmp_path / "t" / "lowdata.json").write_text(json.dumps(meta))
    assert main(["predict", "--model", path, "-i", str(tmp_path / "in.txt"), "-o", str(tmp_path / "x.jsonl")]) != 0
    assert not (tmp_path / "x.jsonl").exists()


def test_the_server_decodes_as_the_model_says(tiny_model, tmp_path):
    from fastapi.testclient import TestClient

    from lowdata.backbone import TaskModel
    from lowdata.serve import build_app

    path = save_random_model(tiny_model, tmp_path / "t", "ner", IOB2, scale=6.0)[0]
    model, tok, meta = TaskModel.load(path)
    words = "john lives in oslo with mary and paul near rome today".split()
    sents = [words[i:] + words[:i] for i in range(len(words))]
    ix = {n: i for i, n in enumerate(IOB2)}
    got = {}
    for mode in ("argmax", "viterbi"):
        with TestClient(build_app(model, tok, {**meta, "ner_decode": mode})) as c:
            r = c.post("/predict", json={"tokens": sents})
            assert r.status_code == 200
            got[mode] = [[ix[t] for t in p["pred"]] for p in r.json()["predictions"]]
    assert any(not legal(p, IOB2) for p in got["argmax"]) and all(legal(p, IOB2) for p in got["viterbi"])


def test_model_decode_refuses_what_it_cannot_run():
    from lowdata.errors import ModelError

    assert model_decode({"labels": IOB2}) == "argmax"
    assert model_decode({"labels": IOB2, "ner_decode": "viterbi"}) == "viterbi"
    with pytest.raises(ModelError, match="m/lowdata.json: ner_decode is 'viterbi'; expected argmax, or viterbi"):
        model_decode({"labels": ["O", "PER"], "ner_decode": "viterbi"}, "m/lowdata.json")
