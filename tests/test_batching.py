import numpy as np

from lowdata.backbone import load_encoder
from lowdata.batching import IGNORE, bucket_batches, collate, encode
from lowdata.data import LabelMap, TokenData


def test_bucket_batches_cover_everything_once_and_are_seeded():
    lens = np.random.default_rng(0).integers(3, 60, size=203)
    b = bucket_batches(lens, 16, seed=1, epoch=0)
    allidx = np.concatenate(b)
    assert sorted(allidx.tolist()) == list(range(203))
    assert all(len(x) <= 16 for x in b)
    again = bucket_batches(lens, 16, seed=1, epoch=0)
    assert all((x == y).all() for x, y in zip(b, again))
    assert not all((x == y).all() for x, y in zip(b, bucket_batches(lens, 16, seed=1, epoch=1)))
    # bucketing: padding waste far below random batching
    waste = sum(lens[x].max() * len(x) - lens[x].sum() for x in b)
    rng = np.random.default_rng(0).permutation(203)
    rand = [rng[i:i + 16] for i in range(0, 203, 16)]
    assert waste < 0.3 * sum(lens[x].max() * len(x) - lens[x].sum() for x in rand)


def test_ner_first_subtoken_alignment(tiny_model):
    _, tok = load_encoder(tiny_model)
    data = TokenData([["Johnson", "visits", "Paris"]], [["B-PER", "O", "B-LOC"]])
    labels = LabelMap.from_data(data)
    assert labels.names[0] == "O"
    (ex,) = encode(data, tok, labels, max_length=64)
    ids, lab, first = ex["input_ids"], ex["labels"], ex["word_ids"]
    assert len(lab) == len(ids)
    # the tiny tokenizer splits words into characters: "Johnson" -> j ##o ##h ...
    assert first[0] == 1 and first[1] == 1 + len("johnson") and first[2] == first[1] + len("visits")
    assert [lab[p] for p in first] == [labels.encode(t) for t in ["B-PER", "O", "B-LOC"]]
    assert sum(x != IGNORE for x in lab) == 3  # only first subtokens carry a label
    b = collate([ex, ex], [0, 1], tok.pad_token_id)
    assert b["labels"].shape == b["input_ids"].shape


def test_ner_truncated_words_are_marked(tiny_model):
    _, tok = load_encoder(tiny_model)
    data = TokenData([["abcdefgh"] * 10], [["O"] * 10])
    (ex,) = encode(data, tok, LabelMap.from_data(data), max_length=20)
    assert ex["word_ids"][:2] == [1, 9] and ex["word_ids"][-1] == -1


def test_a_half_precision_checkpoint_loads_as_float32(tiny_model, tmp_path):
    import torch
    from transformers import AutoModel, AutoTokenizer

    from lowdata.backbone import load_encoder

    half = tmp_path / "half"
    AutoModel.from_pretrained(tiny_model).to(torch.float16).save_pretrained(half)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(half)
    enc, _ = load_encoder(str(half))
    assert {p.dtype for p in enc.parameters()} == {torch.float32}  # trainable master weights in float32


def test_padded_batches_one_padded_length_per_batch():
    from lowdata.batching import padded_batches

    lens = np.random.default_rng(0).integers(3, 61, size=203)
    batches, padded = padded_batches(lens, 16, max_length=60)
    assert sorted(np.concatenate(batches).tolist()) == list(range(203))
    assert all(len(b) <= 16 and len(set(padded[b])) == 1 for b in batches)
    assert (padded >= lens).all() and (padded <= 60).all() and (padded[lens <= 56] % 8 == 0).all()
    assert padded_batches(np.array([], dtype=int), 16)[0] == []


def test_a_texts_logits_do_not_depend_on_its_batch_mates(tiny_model, tmp_path):
    """Alone, in a file of longer and shorter texts, or in another order and batch size: the same text gets
    bit-identical logits (padding to the batch's longest text moved them ~1e-7, so `lowdata predict` on a file, on
    its chunks or through Ray's batches could round a confidence differently)."""
    import torch

    from lowdata.batching import predict_logits
    from lowdata.data import TextData
    from tests.conftest import save_random_model

    _, model, tok = save_random_model(tiny_model, tmp_path / "m")
    words = "the film was slow but the acting and the music were good enough for a rainy evening".split()
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words, size=int(rng.integers(1, 30)))) for _ in range(50)]
    enc = encode(TextData(texts), tok, None, 32)
    together = predict_logits(model, enc, tok.pad_token_id, 16, max_length=32)
    alone = torch.cat([predict_logits(model, [e], tok.pad_token_id, max_length=32) for e in enc[:10]])
    assert torch.equal(together[:10], alone)
    reordered = predict_logits(model, enc[::-1], tok.pad_token_id, 5, max_length=32).flip(0)
    assert torch.equal(together, reordered)
