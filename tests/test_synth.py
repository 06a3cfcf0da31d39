"""`lowdata synth`: a source (LM generation or an augmenter), then dedup / leakage / label-consistency filters."""
import json

from lowdata.cli import main


def _train(tmp_path):
    p = tmp_path / "train.tsv"
    p.write_text("text\tlabel\n" + "".join(f"{w} movie number {i}\t{lab}\n" for i, (w, lab) in
                                           enumerate([("good", "pos"), ("great", "pos"), ("bad", "neg"),
                                                      ("awful", "neg")] * 3)))
    return p


def test_synth_generate_then_filter(tiny_causal, tmp_path, capsys):
    train = _train(tmp_path)
    out = tmp_path / "syn.jsonl"
    argv = ["synth", "-i", str(train), "-o", str(out), "--generate", tiny_causal, "--n-per-label", "6",
            "--max-new-tokens", "6", "--seed", "1"]
    assert main(argv) == 0, capsys.readouterr().err
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    rep = json.loads((tmp_path / "syn.jsonl.report.json").read_text())
    assert rep["generated"] <= 12 and rep["kept"] == len(rows) == sum(rep["per_label"].values())
    assert rep["kept"] + sum(rep["dropped"].values()) == rep["generated"]
    assert {r["label"] for r in rows} <= {"pos", "neg"} and all(r["augmenter"] == f"generate({tiny_causal})"
                                                                 for r in rows)
    texts = [" ".join(r["text"].lower().split()) for r in rows]
    assert len(set(texts)) == len(texts)  # no duplicates survive
    first = out.read_text()
    assert main(argv) == 2 and "exists; pass --overwrite" in capsys.readouterr().err  # never over an output
    assert main(argv + ["--overwrite"]) == 0 and out.read_text() == first  # same seed, same data


def test_synth_aug_drops_leaks_and_duplicates_of_the_input(tmp_path, capsys):
    train = _train(tmp_path)
    test = tmp_path / "test.tsv"
    test.write_text("text\tlabel\ngood movie number 0\tpos\n")  # identical to a train text: a swap may recreate it
    out = tmp_path / "syn.tsv"
    assert main(["synth", "-i", str(train), "-o", str(out), "--aug", "swap:alpha=0.3", "--n", "3", "--against",
                 str(test)]) == 0, capsys.readouterr().err
    lines = out.read_text().splitlines()
    assert lines[0] == "text\tlabel"
    kept = {ln.split("\t")[0] for ln in lines[1:]}
    assert "good movie number 0" not in kept and not kept & {ln.split("\t")[0] for ln in
                                                             train.read_text().splitlines()[1:]}
    rep = json.loads((tmp_path / "syn.tsv.report.json").read_text())
    assert rep["dropped"].get("near match in the source data", 0) + \
        rep["dropped"].get("exact match in the source data", 0) > 0  # swapped words: a copy of the input
    assert rep["generated"] == 36 and rep["kept"] == len(kept) and rep["kept"] < 36
    assert main(["synth", "-i", str(train), "-o", str(train), "--aug", "swap", "--overwrite"]) == 2
    assert "never writes over its input" in capsys.readouterr().err
    assert main(["synth", "-i", str(train), "-o", str(tmp_path / "x.tsv"), "--aug", "eda:alpha=3"]) == 2
    assert "alpha expected a number in [0, 1]" in capsys.readouterr().err


def test_synth_judge_keeps_only_consistent_labels(tiny_model, tmp_path, capsys):
    import yaml

    from lowdata.config import to_dict

    from .conftest import tiny_cfg

    train = _train(tmp_path)
    cfg = tiny_cfg(tiny_model, tmp_path, tmp_path / "run", epochs=8)
    cfg.data.train, cfg.data.dev, cfg.data.test = str(train), None, None
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(to_dict(cfg)))
    assert main(["train", "-c", str(tmp_path / "c.yaml")]) == 0
    capsys.readouterr()
    out = tmp_path / "syn.jsonl"
    assert main(["synth", "-i", str(train), "-o", str(out), "--aug", "keyboard:p=0.15", "--n", "3", "--near", "0.999",
                 "--judge", str(tmp_path / "run" / "model"), "--threshold", "0.99"]) == 0, capsys.readouterr().err
    rep = json.loads((tmp_path / "syn.jsonl.report.json").read_text())
    assert rep["dropped"].get("label confidence < 0.99", 0) > 0  # a strict judge drops some


def test_a_model_without_the_head_warns(tiny_model, tiny_causal, tmp_path):
    """An encoder-only checkpoint (as all offline backbones are) as generator or refiller: transformers gives it a
    random head; the user is told (it was silent), a real causal LM is not warned about."""
    import warnings

    from lowdata.augment.generate import _Generator
    from lowdata.augment.mlm_refill import MLMRefill
    from lowdata.errors import LowdataWarning

    def _gen(model):
        return _Generator(model, None, 4, 1.0, 1.0, None, "cpu")

    def said(load):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always", LowdataWarning)
            load()
        return [str(x.message) for x in w if issubclass(x.category, LowdataWarning)]

    assert any("no trained generation head" in m for m in said(lambda: _gen(tiny_model)._load()))
    assert any("no trained masked-LM head" in m for m in said(lambda: MLMRefill(model=tiny_model).load()))
    assert said(lambda: _gen(tiny_causal)._load()) == []
