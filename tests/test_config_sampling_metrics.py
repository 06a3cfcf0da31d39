import pytest

from lowdata.config import ConfigError, load_config
from lowdata.data import DataError, TextData, TokenData, fraction, k_per_class, split
from lowdata.evaluate import classification_report, ner_report, render_markdown


def test_overrides_and_types(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("train:\n  lr: 5e-5\n  epochs: 3\nmodel:\n  name: minilm\n")
    cfg = load_config(str(p), ["train.lr=1e-4", "data.k_per_class=16", "train.report_to=tensorboard,mlflow"])
    assert cfg.train.lr == 1e-4 and cfg.train.epochs == 3 and cfg.data.k_per_class == 16
    assert cfg.train.report_to == ["tensorboard", "mlflow"]
    assert load_config(str(p)).train.lr == 5e-5
    with pytest.raises(ConfigError, match=r"train.batch_size: expected int, got 'big'"):
        load_config(None, ["train.batch_size=big"])
    with pytest.raises(ConfigError, match="expected key.sub=value"):
        load_config(None, ["train.lr"])


def _data():
    labels = ["a"] * 30 + ["b"] * 20 + ["c"] * 10
    return TextData([f"text {i}" for i in range(60)], labels)


def test_k_per_class_is_stratified_seeded_and_leaves_the_rest_unlabeled():
    d = _data()
    lab, unl = k_per_class(d, 5, seed=3)
    assert sorted(lab.labels) == ["a"] * 5 + ["b"] * 5 + ["c"] * 5
    assert unl.labels is None and len(unl) == 45
    assert not set(lab.texts) & set(unl.texts)
    lab2, _ = k_per_class(d, 5, seed=3)
    assert lab2.texts == lab.texts
    assert k_per_class(d, 5, seed=4)[0].texts != lab.texts
    assert lab.lines == [d.lines[d.texts.index(t)] for t in lab.texts]  # source lines follow the sample
    with pytest.raises(DataError, match="class 'c' has 10 examples, fewer than k=11"):
        k_per_class(d, 11)


def test_fraction_and_split():
    d = _data()
    assert len(fraction(d, 0.1, seed=0)) == 6 and fraction(d, 0.1, 0).texts == fraction(d, 0.1, 0).texts
    a, b, c = split(d, (0.5, 0.25, 0.25), seed=0)
    assert (len(a), len(b), len(c)) == (30, 15, 15)
    assert sorted(a.texts + b.texts + c.texts) == sorted(d.texts)


def test_classification_report_numbers():
    rep = classification_report(["a", "a", "b", "b"], ["a", "b", "b", "b"], ["a", "b"])
    assert rep["accuracy"] == 0.75
    assert rep["per_class"]["a"] == {"precision": 1.0, "recall": 0.5, "f1-score": pytest.approx(2 / 3),
                                     "support": 2.0}
    assert rep["per_class"]["b"]["precision"] == pytest.approx(2 / 3)
    assert rep["confusion"] == [[1, 1], [0, 2]]
    md = render_markdown(rep)
    assert "| a | 1.0000 | 0.5000 | 0.6667 | 2 |" in md


def test_confusion_png_stays_readable_sized_for_many_classes(tmp_path):
    from PIL import Image

    from lowdata.evaluate.metrics import save_confusion_png

    names = [f"intent_{i}" for i in range(150)]
    truth = names * 2
    rep = classification_report(truth, truth[1:] + truth[:1], names)
    save_confusion_png(rep, str(tmp_path / "c.png"))
    w, h = Image.open(tmp_path / "c.png").size
    assert 500 < w <= 2000 and 500 < h <= 2000, (w, h)  # was 6,200 pixels a side (0.4 inch a label)


def test_ner_report_default_vs_strict():
    true = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["I-PER", "I-PER", "O", "B-LOC"]]  # conlleval accepts the I- start; strict IOB2 does not
    rep = ner_report(true, pred)
    assert rep["f1"] == 1.0
    assert rep["strict"]["f1"] == pytest.approx(2 / 3)  # strict finds LOC only: P=1, R=1/2
    assert rep["per_type"]["PER"]["support"] == 1


def test_token_data_validation():
    with pytest.raises(DataError, match="line 1: empty sentence"):
        TokenData([[]], [[]])


def test_unlabeled_from_a_file_column(tmp_path):
    from lowdata.config import DataConfig
    from lowdata.data.splits import load_splits

    (tmp_path / "train.csv").write_text("text,label\ngood,pos\nbad,neg\n")
    (tmp_path / "pool.csv").write_text("id,review,stars\n1,a fine film,5\n2,dull stuff,1\n")
    s = load_splits(DataConfig(train=str(tmp_path / "train.csv"), unlabeled=str(tmp_path / "pool.csv"),
                               unlabeled_column="review"))
    assert s["unlabeled"].texts == ["a fine film", "dull stuff"] and s["unlabeled"].labels is None
    with pytest.raises(DataError, match="missing text column 'comment'"):
        load_splits(DataConfig(train=str(tmp_path / "train.csv"), unlabeled=str(tmp_path / "pool.csv"),
                               unlabeled_column="comment"))


def test_every_shipped_config_loads():
    """Each YAML in configs/ parses into its config class (train, pretrain-*, study-* with every cell), so a renamed
    or misspelt key in a shipped config fails here, not in a user's run."""
    from pathlib import Path

    from lowdata.config import Config, PretrainConfig, load_config
    from lowdata.studies.study import cell_config, load_study

    paths = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
    assert len(paths) >= 10
    for p in paths:
        if p.name.startswith("study-"):
            st = load_study(str(p))
            for method in st.methods:
                for budget in st.budgets:
                    assert isinstance(cell_config(st, method, str(budget), 0), Config)
        elif p.name.startswith("pretrain-"):
            assert isinstance(load_config(str(p), cls=PretrainConfig), PretrainConfig)
        else:
            assert isinstance(load_config(str(p)), Config)
