import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from lowdata.config import ConfigError, PretrainConfig, load_config
from lowdata.data import DataError

from .conftest import data_path

WORDS = ("the quick brown fox jumps over a lazy dog while seven wizards quietly hex jolly numbskulls and "
         "big fjords vex quick waltz nymph").split()


def corpus_file(path, docs=60, blank_lines=True, seed=0):
    """Documents of a few sentences each; blank lines between documents."""
    import random

    rng = random.Random(seed)
    out = []
    for d in range(docs):
        sents = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12))).capitalize() + "."
                 for _ in range(rng.randint(2, 5))]
        out.append(("\n" if blank_lines else " ").join(sents))
    path.write_text(("\n\n" if blank_lines else "\n").join(out) + "\n")
    return path


def cfg(model, paths, out, *over):
    return load_config(None, [f"corpus.paths=[{','.join(str(p) for p in paths)}]", f"model.name={model or 'null'}",
                              "model.max_length=32", "train.report_to=[]", "train.progress=false",
                              "train.batch_size=8", "train.lr=1e-3", "train.max_steps=30", "train.eval_every=15",
                              "train.warmup_ratio=0", "corpus.heldout=0.1", f"output_dir={out}", *over],
                       cls=PretrainConfig)


# --- masking -------------------------------------------------------------------------------------------------

def _batch(B=64, T=40, word_len=3):
    ids = torch.randint(10, 100, (B, T))
    wids = (torch.arange(T) // word_len).expand(B, T).clone()
    wids[:, 0] = wids[:, -1] = -1  # [CLS] ... [SEP]
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "word_ids": wids}


@pytest.mark.parametrize("whole_word", [False, True])
def test_masking_rates_and_80_10_10(whole_word):
    from lowdata.pretrain.mlm import mask_tokens

    b = _batch(B=400)
    orig = b["input_ids"].clone()
    out = mask_tokens(dict(b), mask_id=4, vocab_size=100, generator=torch.Generator().manual_seed(0), p=0.15,
                      whole_word=whole_word)
    chosen = out["labels"] != -100
    assert not chosen[:, 0].any() and not chosen[:, -1].any()  # specials never chosen
    assert abs(chosen[:, 1:-1].float().mean().item() - 0.15) < 0.01
    assert torch.equal(out["labels"][chosen], orig[chosen])
    assert torch.equal(out["input_ids"][~chosen], orig[~chosen])  # only chosen tokens change
    masked = (out["input_ids"] == 4) & chosen
    kept = (out["input_ids"] == orig) & chosen
    n = chosen.sum().item()
    assert abs(masked.sum().item() / n - 0.8) < 0.03
    assert abs(kept.sum().item() / n - 0.1 - 0.01) < 0.03  # 10% kept (+ random draws that hit the same id: 1%)
    if whole_word:  # every word (3 pieces, ids 1..) is chosen entirely or not at all
        w = b["word_ids"]
        for r in range(50):
            for word in w[r].unique().tolist():
                if word >= 0:
                    c = chosen[r][w[r] == word]
                    assert c.all() or not c.any()


def test_masking_is_deterministic_and_never_empty():
    from lowdata.pretrain.mlm import mask_tokens

    b = _batch(B=8, T=4)
    a1 = mask_tokens(dict(b), 4, 100, torch.Generator().manual_seed(3), p=0.01)
    a2 = mask_tokens(dict(b), 4, 100, torch.Generator().manual_seed(3), p=0.01)
    assert torch.equal(a1["input_ids"], a2["input_ids"]) and torch.equal(a1["labels"], a2["labels"])
    assert ((a1["labels"] != -100).sum(1) >= 1).all()  # p tiny: still one target per row (loss defined)


# --- corpus --------------------------------------------------------------------------------------------------

def test_corpus_documents_dedup_and_heldout(tmp_path, tiny_mlm):
    from transformers import AutoTokenizer

    from lowdata.pretrain.corpus import Packed, build, iter_documents

    f = corpus_file(tmp_path / "c.txt", docs=80)
    text = f.read_text()
    f2 = tmp_path / "dup.txt"
    f2.write_text(text.split("\n\n")[0].upper() + "\n\n" + text.split("\n\n")[1])  # two duplicates (case-folded)
    c = cfg(tiny_mlm, [f, f2], tmp_path / "o")
    docs = list(iter_documents(c.corpus))
    assert len(docs) == 82 and docs[0][0] == f"{f}:1" and len(docs[0][1]) >= 2  # blank-line documents
    tok = AutoTokenizer.from_pretrained(tiny_mlm)
    meta = build(c, tok, str(tmp_path / "d"), progress=False)
    assert meta["duplicates"] == 2 and meta["documents"] == 80
    assert 0 < meta["heldout_documents"] < 25
    tr = Packed(str(tmp_path / "d" / "train"))
    assert len(tr) == meta["train_sequences"]
    for i in range(len(tr)):
        ids, wids, types, nsp = tr[i]
        assert len(ids) <= 32 and ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id and nsp == -1
        assert wids[0] == -1 and wids[-1] == -1 and (wids[1:-1] >= -1).all()
    # packing fills sequences: mean length close to the limit (documents here are ~30 tokens)
    assert tr.lengths().mean() > 20
    # packed text is the corpus text, in order: the first training document's words open the first sequence
    first = tok.decode(tr[0][0][1:9])
    assert first.split()[0] in text.lower()
    # same corpus again: the packed data is reused, not rebuilt
    assert build(c, tok, str(tmp_path / "d"), progress=False) == meta


def test_line_documents_and_jsonl(tmp_path, tiny_mlm):
    from lowdata.pretrain.corpus import iter_documents

    f = corpus_file(tmp_path / "c.txt", docs=10, blank_lines=False)
    j = tmp_path / "c.jsonl"
    j.write_text("\n".join(json.dumps({"text": f"doc {i}. Second part."}) for i in range(5)) + "\n")
    c = cfg(tiny_mlm, [f, j], tmp_path / "o")
    docs = list(iter_documents(c.corpus))
    assert len(docs) == 15 and docs[10] == (f"{j}:1", ["doc 0. Second part."])


@pytest.mark.parametrize("content,where", [
    (b'{"text": "ok"}\n{"text": broken\n', "line 2: invalid JSON"),
    (b'{"text": "ok"}\n{"body": "x"}\n', "line 2: expected an object with a 'text' field"),
])
def test_bad_jsonl_names_file_and_line(tmp_path, tiny_mlm, content, where):
    from lowdata.pretrain.corpus import iter_documents

    p = tmp_path / "bad.jsonl"
    p.write_bytes(content)
    with pytest.raises(DataError, match=f"bad.jsonl: {where}"):
        list(iter_documents(cfg(tiny_mlm, [p], tmp_path / "o").corpus))


def test_bad_encoding_names_line_and_setting(tmp_path, tiny_mlm):
    from lowdata.pretrain.corpus import iter_documents

    p = tmp_path / "latin.txt"
    p.write_bytes(b"fine line\nanother\ncaf\xe9 au lait\n")
    with pytest.raises(DataError, match=r"latin.txt: line 3: not valid utf-8.*corpus.encoding"):
        list(iter_documents(cfg(tiny_mlm, [p], tmp_path / "o").corpus))
    c = cfg(tiny_mlm, [p], tmp_path / "o", "corpus.encoding=latin-1")
    assert [d for _, d in iter_documents(c.corpus)][2] == ["café au lait"]


def test_missing_and_empty_corpus(tmp_path, tiny_mlm):
    from lowdata.pretrain import pretrain

    with pytest.raises(DataError, match="nope.txt: corpus file not found"):
        pretrain(cfg(tiny_mlm, [tmp_path / "nope.txt"], tmp_path / "o1"))
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(DataError, match="no training text"):
        pretrain(cfg(tiny_mlm, [tmp_path / "empty.txt"], tmp_path / "o2"))


@pytest.mark.parametrize("objective", ["nsp", "sop"])
def test_sentence_pairs(tmp_path, tiny_mlm, objective):
    from transformers import AutoTokenizer

    from lowdata.pretrain.corpus import Packed, build

    f = corpus_file(tmp_path / "c.txt", docs=120)
    c = cfg(tiny_mlm, [f], tmp_path / "o", f"objective.sentence={objective}", "model.max_length=48")
    tok = AutoTokenizer.from_pretrained(tiny_mlm)
    build(c, tok, str(tmp_path / "d"), progress=False)
    tr = Packed(str(tmp_path / "d" / "train"))
    labels = [tr[i][3] for i in range(len(tr))]
    assert set(labels) == {0, 1} and 0.3 < np.mean(labels) < 0.7
    for i in range(len(tr)):
        ids, wids, types, _ = tr[i]
        seps = np.flatnonzero(ids == tok.sep_token_id)
        assert len(ids) <= 48 and len(seps) == 2 and seps[-1] == len(ids) - 1
        assert (types[: seps[0] + 1] == 0).all() and (types[seps[0] + 1:] == 1).all()


def test_chinese_whole_words_come_from_jieba():
    from lowdata.pretrain.corpus import Segmenter, tokenize_docs
    from lowdata.pretrain.tokenizer import from_vocab

    tok = from_vocab(str(data_path("bert-vocab-zh")))
    docs, _ = tokenize_docs([["我爱北京天安门。今天天气很好！"]], tok, Segmenter(tok), 0)
    (ids1, w1), (ids2, w2) = docs[0]  # two sentences
    chars = tok.convert_ids_to_tokens(ids1)
    assert chars[:7] == list("我爱北京天安门")
    assert w1[2] == w1[3] and w1[4] == w1[5] == w1[6] and w1[3] != w1[4] and w1[0] != w1[1]  # 北京 | 天安门
    assert min(w2) > max(w1)  # word ids keep counting across sentences


def test_tokenizer_training_and_vocab_file(tmp_path):
    from lowdata.pretrain.tokenizer import from_vocab, train_wordpiece

    tok = train_wordpiece(iter(["the movie was good", "the film was bad"] * 50), vocab_size=120)
    assert tok.tokenize("the movie") == ["the", "movie"] and tok.mask_token_id is not None
    v = tmp_path / "vocab.txt"
    v.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "##s"]) + "\n")
    assert from_vocab(str(v)).tokenize("Hellos") == ["hello", "##s"]
    v.write_text("a\nb\n")
    with pytest.raises(ValueError, match="special tokens"):
        from_vocab(str(v))


# --- end to end ----------------------------------------------------------------------------------------------

def test_from_scratch_tokenizer_from_vocab_file_or_its_folder(tmp_path):
    """model.tokenizer names a vocab.txt or, as configs/pretrain-zh-small.yaml does, the folder holding it; a path
    with no vocabulary is refused naming the setting."""
    from lowdata.pretrain.run import load_tokenizer

    vocab = data_path("bert-vocab-zh")
    for where in (vocab, next(vocab.glob("*vocab*.txt"))):
        c = cfg(None, [tmp_path], tmp_path / "o", f"model.tokenizer={where}")
        tok, fresh = load_tokenizer(c, str(tmp_path / "o"))
        assert fresh and tok.tokenize("我爱北京") == list("我爱北京")
    with pytest.raises(ConfigError, match="model.tokenizer: .*no such vocab file"):
        load_tokenizer(cfg(None, [tmp_path], tmp_path / "o", f"model.tokenizer={tmp_path}"), str(tmp_path / "o"))
    (tmp_path / "words.txt").write_text("a\nb\n[UNK]\n", encoding="utf-8")  # no [CLS] / [SEP] / [MASK] / [PAD]
    with pytest.raises(ConfigError, match="model.tokenizer: .*lacks one of the special tokens"):
        load_tokenizer(cfg(None, [tmp_path], tmp_path / "o", f"model.tokenizer={tmp_path / 'words.txt'}"),
                       str(tmp_path / "o"))


def test_continued_pretraining_lowers_heldout_perplexity_and_output_loads(tmp_path, tiny_mlm):
    from transformers import AutoModel, AutoModelForMaskedLM

    from lowdata.backbone import TaskModel, load_encoder
    from lowdata.pretrain import pretrain

    f = corpus_file(tmp_path / "c.txt", docs=150)
    m = pretrain(cfg(tiny_mlm, [f], tmp_path / "o", "train.max_steps=60"))
    b, a = m["heldout_before"], m["heldout_after"]
    assert a["perplexity"] < 0.7 * b["perplexity"], (b, a)  # a 23-word language is quickly learnt
    assert m["steps"] == 60 and m["tokens_per_second"] > 0 and len(m["history"]) >= 4
    saved = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert saved["heldout_after"] == a
    out = str(tmp_path / "o" / "model")
    AutoModelForMaskedLM.from_pretrained(out)
    enc, tok = load_encoder(out)
    assert isinstance(enc, AutoModel.from_pretrained(out).__class__)
    TaskModel(enc, 2)(torch.tensor([[2, 50, 3]]), torch.ones(1, 3, dtype=torch.long))
    from lowdata.augment.mlm_refill import MLMRefill

    assert len(MLMRefill(model=out, n=1, seed=0)(["the quick brown fox jumps"])[0]) == 1


def test_freeze_encoder_trains_the_head_only(tmp_path, tiny_mlm):
    from transformers import AutoModelForMaskedLM

    from lowdata.pretrain import pretrain

    f = corpus_file(tmp_path / "c.txt", docs=60)
    m = pretrain(cfg(tiny_mlm, [f], tmp_path / "o", "model.freeze_encoder=true", "train.max_steps=10"))
    assert "encoder frozen" in m["model"]
    before, after = AutoModelForMaskedLM.from_pretrained(tiny_mlm), AutoModelForMaskedLM.from_pretrained(
        str(tmp_path / "o" / "model"))
    b, a = before.state_dict(), after.state_dict()
    assert torch.equal(b["bert.encoder.layer.0.attention.self.query.weight"],
                       a["bert.encoder.layer.0.attention.self.query.weight"])
    assert not torch.equal(b["cls.predictions.transform.dense.weight"], a["cls.predictions.transform.dense.weight"])


def test_fresh_head_is_tied_to_word_embeddings(tmp_path, tiny_model):
    from lowdata.pretrain.run import load_model

    c = cfg(tiny_model, [tmp_path], tmp_path / "o")  # tiny_model: a bare encoder, no MLM head
    model, note = load_model(c, None)
    assert "newly initialised: cls.predictions" in note
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight


def test_from_scratch_with_trained_tokenizer_and_nsp(tmp_path):
    from lowdata.pretrain import pretrain

    f = corpus_file(tmp_path / "c.txt", docs=150)
    c = cfg(None, [f], tmp_path / "o", "model.tokenizer=train", "model.vocab_size=200", "model.layers=1",
            "model.hidden=32", "model.heads=2", "objective.sentence=nsp", "train.max_steps=40")
    m = pretrain(c)
    assert m["model"].startswith("from scratch: 1 layers, hidden 32")
    assert m["heldout_after"]["mlm_loss"] < m["heldout_before"]["mlm_loss"]
    assert "sentence_accuracy" in m["heldout_after"]
    from transformers import AutoTokenizer, BertForPreTraining

    BertForPreTraining.from_pretrained(str(tmp_path / "o" / "model"))
    assert len(AutoTokenizer.from_pretrained(str(tmp_path / "o" / "model"))) <= 200


def test_warns_when_corpus_repeats_past_four_epochs(tmp_path, tiny_mlm):
    from lowdata.pretrain import pretrain

    f = corpus_file(tmp_path / "c.txt", docs=20)
    with pytest.warns(UserWarning, match="Muennighoff"):
        pretrain(cfg(tiny_mlm, [f], tmp_path / "o", "train.batch_size=32", "train.max_steps=20",  # 5 passes
                     "train.eval_every=0"))


def test_pretrain_kill_and_resume_matches(tmp_path, tiny_mlm):
    """SIGKILL at step 11, --resume from the step-10 checkpoint: same dev history and final perplexity."""
    f = corpus_file(tmp_path / "c.txt", docs=100)
    args = [f"corpus.paths=[{f}]", f"model.name={tiny_mlm}", "model.max_length=32", "train.report_to=[]",
            "train.progress=false", "train.batch_size=8", "train.max_steps=20", "train.eval_every=5",
            "train.save_every=5", "corpus.heldout=0.1"]

    def cli(out, *extra, env=None):
        return subprocess.run([sys.executable, "-m", "lowdata.cli", "pretrain", *args, f"output_dir={out}", *extra],
                              capture_output=True, text=True, env=env)

    assert cli(tmp_path / "full").returncode == 0
    killed = cli(tmp_path / "k", env={**os.environ, "LOWDATA_TEST_KILL_AT_STEP": "11"})
    assert killed.returncode == -9
    again = cli(tmp_path / "k")
    assert again.returncode == 2 and "--resume" in again.stderr
    r = cli(tmp_path / "k", "--resume")
    assert r.returncode == 0, r.stderr
    assert "resumed from step 10" in r.stdout + r.stderr and "held-out perplexity" in r.stdout
    a = json.loads((tmp_path / "full" / "metrics.json").read_text())
    b = json.loads((tmp_path / "k" / "metrics.json").read_text())
    assert a["history"] == b["history"] and a["heldout_after"] == b["heldout_after"]


def test_cli_pretrain_bad_config_exits_2(tmp_path):
    r = subprocess.run([sys.executable, "-m", "lowdata.cli", "pretrain", "objective.sentence=xyz",
                        f"output_dir={tmp_path / 'o'}"], capture_output=True, text=True)
    assert r.returncode == 2 and "objective.sentence" in r.stderr


def test_train_config_pretrain_section_adapts_then_fine_tunes(tmp_path, tiny_mlm, toy_files):
    """`pretrain:` in a train config: continued MLM on train + unlabeled text, then fine-tuning from it."""
    import yaml

    from lowdata.config import to_dict

    from .conftest import tiny_cfg

    cfg = tiny_cfg(tiny_mlm, toy_files, "x", epochs=2)
    cfg.data.k_per_class = 8
    d = to_dict(cfg)
    d.pop("output_dir")
    d["pretrain"] = {"max_steps": 6, "batch_size": 8, "max_length": 32}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(d))
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "lowdata.cli", "train", "-c", str(tmp_path / "c.yaml"),
                        f"output_dir={out}"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    pm = json.loads((out / "pretrain" / "metrics.json").read_text())
    assert pm["steps"] == 6 and pm["corpus"]["documents"] > 16  # 16 labeled + the unlabeled rest (deduplicated)
    used = yaml.safe_load((out / "config.yaml").read_text())
    assert used["model"]["name"] == str(out / "pretrain" / "model")
    assert "accuracy" in json.loads((out / "metrics.json").read_text())["test"]
    corpus = (out / "pretrain" / "corpus.txt").read_text().splitlines()
    assert len(corpus) == 64  # the 64 training rows (16 labeled + 48 unlabeled); dev and test never go in


def test_pretrain_section_then_graph_seeded_self_training(tmp_path, tiny_mlm, toy_files, monkeypatch):
    """`pretrain:` + `ssl: {method: self_training}` + `self_training: {seed_graph: gcn}` in one config (the fusion path
    the AG News bench measures): the MLM runs once, before the rounds, and every round, graph included, starts from
    the adapted encoder; a rerun reuses the adapted encoder instead of pretraining again."""
    from lowdata.config import FusionConfig
    from lowdata.methods import train as train_config

    from .conftest import tiny_cfg

    monkeypatch.setenv("LOWDATA_CACHE", str(tmp_path / "cache"))
    cfg = tiny_cfg(tiny_mlm, toy_files, tmp_path / "run", epochs=1)
    cfg.data.k_per_class = 8
    cfg.pretrain = FusionConfig(max_steps=4, batch_size=8, max_length=32)
    cfg.ssl.method = "self_training"
    cfg.self_training.rounds, cfg.self_training.threshold, cfg.self_training.seed_graph = 2, 0.0, "gcn"
    m = train_config(cfg)
    adapted = str(tmp_path / "run" / "pretrain" / "model")
    assert [h["teacher"] for h in m["self_training"]] == ["gcn", "model"]
    for r in (0, 1):
        used = json.loads((tmp_path / "run" / f"round_{r}" / "metrics.json").read_text())
        assert used["n_train"] > 16
        assert (tmp_path / "run" / f"round_{r}" / "config.yaml").read_text().count(adapted) == 1
    stamp = (tmp_path / "run" / "pretrain" / "metrics.json").stat().st_mtime_ns
    os.unlink(tmp_path / "run" / "metrics.json")  # as if killed after the rounds: --resume reads them back
    train_config(cfg, overwrite=False, resume=True)
    assert (tmp_path / "run" / "pretrain" / "metrics.json").stat().st_mtime_ns == stamp
