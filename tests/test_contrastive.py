import json
import numpy as np
import pytest
import torch

from .conftest import tiny_cfg


def test_pairs_are_r_positives_and_r_negatives_per_text():
    from lowdata.contrastive import make_pairs

    y = [0, 0, 0, 1, 1, 2]
    p = make_pairs(y, rounds=5, seed=3)
    assert (p == make_pairs(y, rounds=5, seed=3)).all() and not (p == make_pairs(y, rounds=5, seed=4)).all()
    assert (p[:, 0] != p[:, 1]).all()
    same = np.array([y[i] == y[j] for i, j in p[:, :2]])
    assert (same == (p[:, 2] == 1)).all()
    for i in range(len(y)):
        rows = p[p[:, 0] == i]
        assert (rows[:, 2] == 0).sum() == 5
        assert (rows[:, 2] == 1).sum() == (0 if i == 5 else 5)  # class 2 has one member: no positive partner
    # positives are uniform over the class without i (chi-square would be overkill: every partner shows up)
    big = make_pairs([0] * 4 + [1] * 4, rounds=400, seed=0)
    partners = big[(big[:, 0] == 0) & (big[:, 2] == 1), 1]
    counts = np.bincount(partners, minlength=4)[1:4]
    assert counts.min() > 100 and counts[0] == np.bincount(partners)[1]


def test_unique_pairs_are_the_setfit_librarys():
    """contrastive.sampling=unique: every unordered pair (self-pairs too) once before any recurs, rounds x N of each
    kind, interleaved positive / negative, seeded."""
    from lowdata.config import ConfigError, load_config
    from lowdata.contrastive import make_pairs_unique

    y = [0, 0, 0, 1, 1, 2]
    p = make_pairs_unique(y, rounds=3, seed=1)
    assert (p == make_pairs_unique(y, rounds=3, seed=1)).all() and not (p == make_pairs_unique(y, 3, seed=2)).all()
    assert len(p) == 2 * 3 * len(y) and (p[0::2, 2] == 1).all() and (p[1::2, 2] == 0).all()
    assert (p[:, 0] <= p[:, 1]).all()
    same = np.array([y[i] == y[j] for i, j in p[:, :2]])
    assert (same == (p[:, 2] == 1)).all()
    pos = [tuple(r) for r in p[p[:, 2] == 1, :2]]  # 6 + 3 + 1 = 10 same-class pairs with self-pairs; 18 drawn
    assert len(set(pos[:10])) == 10 and pos[10:] == pos[:8]  # all once, then the same order again
    neg = [tuple(r) for r in p[p[:, 2] == 0, :2]]  # 21 pairs in all - 10 = 11 other-class pairs
    assert len(set(neg[:11])) == 11 and neg[11:] == neg[:7]
    one = make_pairs_unique([0, 0], rounds=2)  # one class: positives only, the 3 pairs then the first again
    assert len(one) == 4 and (one[:, 2] == 1).all() and {tuple(r) for r in one[:3, :2]} == {(0, 0), (0, 1), (1, 1)}
    with pytest.raises(ConfigError, match="contrastive.sampling"):
        load_config(None, ["contrastive.sampling=random"])
    from lowdata.contrastive import make_pairs, sampler

    assert load_config(None, ["contrastive.sampling=auto"]).contrastive.sampling == "auto"
    assert sampler("auto", y) is make_pairs_unique and sampler("auto", [0, 1, 1]) is make_pairs  # 3 classes / 2
    assert sampler("per_text", y) is make_pairs and sampler("unique", [0, 1]) is make_pairs_unique


def _gap(model, enc, pad, y):
    from lowdata.batching import collate

    model.eval()
    with torch.no_grad():
        b = collate(enc, np.arange(len(enc)), pad)
        f = torch.nn.functional.normalize(model.features(b["input_ids"], b["attention_mask"]).float(), dim=-1)
    cos = (f @ f.T).numpy()
    same = np.equal.outer(y, y) & ~np.eye(len(y), dtype=bool)
    diff = ~np.equal.outer(y, y)
    return cos[same].mean() - cos[diff].mean()


def test_stage_pulls_classes_apart(tiny_model, toy_files, tmp_path):
    """After the stage, same-class texts are closer (cosine) than before, relative to different-class ones."""
    from accelerate import Accelerator

    from lowdata.backbone import TaskModel, load_encoder
    from lowdata.batching import encode
    from lowdata.config import ContrastiveConfig
    from lowdata.contrastive import contrastive_stage
    from lowdata.data import LabelMap, read

    cfg = tiny_cfg(tiny_model, toy_files, tmp_path / "c", lr=1e-3)
    train = read(str(toy_files / "train.tsv")).subset(list(range(16)))
    labels = LabelMap.from_data(train)
    torch.manual_seed(0)
    enc_model, tok = load_encoder(tiny_model)
    model = TaskModel(enc_model, len(labels))
    enc = encode(train, tok, labels, 32)
    y = np.array([e["label"] for e in enc])
    before = _gap(model, enc, tok.pad_token_id, y)
    state = contrastive_stage(model, enc, tok.pad_token_id, ContrastiveConfig(pairs=8, epochs=3, lr=1e-3),
                              cfg.train, Accelerator(cpu=True), str(tmp_path / "c"))
    after = _gap(model, enc, tok.pad_token_id, y)
    assert state["pairs"] == 8 * 2 * 16 and state["step"] == 3 * 16
    assert after > before + 0.2, (before, after)


@pytest.mark.parametrize("epochs", [0, 2])
def test_setfit_from_config(tiny_model, toy_files, tmp_path, epochs):
    """contrastive.pairs in a train config: the encoder is tuned, the head is a logistic regression on the tuned
    features (epochs 0: SetFit as published), and the run learns the toy task."""
    from safetensors.torch import load_file

    from lowdata.methods.finetune import run

    cfg = tiny_cfg(tiny_model, toy_files, tmp_path / "s", epochs=epochs, lr=1e-3)
    cfg.contrastive.pairs, cfg.contrastive.lr, cfg.contrastive.epochs = 8, 1e-3, 2
    m = run(cfg)
    assert m["test"]["accuracy"] >= 0.9 and m["steps"] == epochs * 8
    tuned = load_file(str(tmp_path / "s" / "model" / "model.safetensors"))
    orig = load_file(f"{tiny_model}/model.safetensors")
    k = next(k for k in orig if "layer.0.attention.self.query.weight" in k)
    assert not torch.equal(tuned["encoder." + k], orig[k])  # TaskModel names: encoder.*, head.*
    # SetFit as published: its logistic head reads L2-normalised vectors (the library's Normalize module); with
    # fine-tuning epochs after the stage, the head is trained end to end on the plain pooled vectors
    meta = json.loads((tmp_path / "s" / "model" / "lowdata.json").read_text())
    assert meta.get("normalize", False) is (epochs == 0)


def test_unbucketed_pair_batches_mix_lengths(tiny_model, toy_files, tmp_path, monkeypatch):
    """contrastive.bucket=false: pair batches in a seeded random order (as sentence-transformers draws them), not
    sorted by length; the same pairs are seen either way."""
    from accelerate import Accelerator

    import lowdata.contrastive as contrastive
    from lowdata.backbone import TaskModel, load_encoder
    from lowdata.batching import encode
    from lowdata.config import ContrastiveConfig
    from lowdata.data import LabelMap, TextData

    rng = np.random.default_rng(0)
    texts = [" ".join(["good"] * int(n)) + " movie" for n in rng.integers(1, 25, size=32)]
    train = TextData(texts, ["pos", "neg"] * 16)
    labels = LabelMap.from_data(train)
    enc_model, tok = load_encoder(tiny_model)
    enc = encode(train, tok, labels, 32)
    cfg = tiny_cfg(tiny_model, toy_files, tmp_path / "c")
    seen, real = {True: [], False: []}, contrastive.pair_loss
    for bucket in (True, False):
        def spy(model, batch, widths=seen[bucket]):
            widths.append(int(batch["attention_mask"].sum(1).max() - batch["attention_mask"].sum(1).min()))
            return real(model, batch)
        monkeypatch.setattr(contrastive, "pair_loss", spy)
        contrastive.contrastive_stage(TaskModel(enc_model, len(labels)), enc, tok.pad_token_id,
                                      ContrastiveConfig(pairs=4, bucket=bucket), cfg.train, Accelerator(cpu=True),
                                      str(tmp_path / f"c{bucket}"))
    assert len(seen[True]) == len(seen[False]) == 16  # 4 rounds x 2 pairs x 32 texts / batch 16
    # the a-side lengths inside a batch: nearly equal when bucketed (sorted by the pair's longer text), spread when not
    assert np.mean(seen[False]) > np.mean(seen[True]) + 5, seen
