import json

import pytest

from lowdata.data import DataError, LabelMap, TextData, TokenData, from_hf, normalize_tags, read, to_hf

from .conftest import data_path


def w(tmp_path, name, content, mode="w"):
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    return str(p)


def test_csv_with_header(tmp_path):
    d = read(w(tmp_path, "a.csv", 'text,label\n"hello, world",pos\nbad film,neg\n'))
    assert d.texts == ["hello, world", "bad film"] and d.labels == ["pos", "neg"]


def test_tsv_without_header_label_first_and_text_first(tmp_path):
    d = read(w(tmp_path, "a.tsv", "pos\ta really good film\nneg\tawful acting all along\n"))
    assert d.labels == ["pos", "neg"] and d.texts[0] == "a really good film"
    d = read(w(tmp_path, "b.tsv", "a really good film\tpos\nawful acting all along\tneg\n"))
    assert d.labels == ["pos", "neg"]


def test_label_space_text_lines():
    d = read(str(data_path("sst2", "stsa.binary.dev")), format="label_text")
    assert len(d) == 872 and sorted(set(d.labels)) == ["0", "1"]
    assert d.labels.count("0") == 428


def test_label_text_sniffed(tmp_path):
    d = read(w(tmp_path, "x.train", "1 a fine movie\n0 a bad one\n"))
    assert d.labels == ["1", "0"] and d.texts == ["a fine movie", "a bad one"]


def test_jsonl(tmp_path):
    p = w(tmp_path, "a.jsonl", '{"text": "ok", "label": "x"}\n\n{"sentence": "fine", "label": 1}\n')
    d = read(p)
    assert d.texts == ["ok", "fine"] and d.labels == ["x", "1"] and d.lines == [1, 3]


def test_jsonl_ner(tmp_path):
    p = w(tmp_path, "a.jsonl", json.dumps({"tokens": ["EU", "rejects"], "tags": ["S-ORG", "O"]}) + "\n")
    d = read(p, task="ner")
    assert d.tags == [["B-ORG", "O"]]


def test_conll_any_columns_and_tab_separator_lines(tmp_path):
    four = "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\n"
    d = read(w(tmp_path, "a.txt", four))
    assert d.tokens == [["EU", "rejects"], ["Peter"]] and d.tags == [["B-ORG", "O"], ["B-PER"]]
    assert d.lines == [3, 6]
    two = "a\tO\nb\tB-X\n\t\nc\tI-X\n"  # WNUT style: a line with a single tab separates sentences
    d = read(w(tmp_path, "b.conll", two))
    assert d.tokens == [["a", "b"], ["c"]] and d.tags == [["O", "B-X"], ["B-X"]]


def test_conll2003_counts():
    d = read(str(data_path("conll2003", "valid.txt")))
    assert len(d) == 3250  # sentences (the 3465 breaks include -DOCSTART- blocks)
    assert sum(t == "B-PER" for s in d.tags for t in s) == 1842


def test_bmes_char_file_to_bio(tmp_path):
    d = read(w(tmp_path, "a.bmes", "北 B-LOC\n京 E-LOC\n是 O\n中 B-LOC\n国 M-LOC\n家 E-LOC\n人 S-PER\n"))
    assert d.tags == [["B-LOC", "I-LOC", "O", "B-LOC", "I-LOC", "I-LOC", "B-PER"]]


def test_normalize_tags():
    assert normalize_tags(["S-A", "S-A", "B-B", "E-B", "I-C"]) == ["B-A", "B-A", "B-B", "I-B", "B-C"]
    assert normalize_tags(["I-A", "I-A", "O", "I-A"]) == ["B-A", "I-A", "O", "B-A"]  # IOB1 -> IOB2


def test_weibo_chinese_conll():
    d = read(str(data_path("weibo-ner", "weiboNER_2nd_conll.dev")), format="conll")
    assert len(d) == 270


def test_hf_dataset_roundtrip():
    d = TextData(["a b", "c d"], ["x", "y"])
    ds = to_hf(d)
    back = from_hf(ds)
    assert back.texts == d.texts and back.labels == d.labels
    ner = TokenData([["a", "b"]], [["B-X", "O"]])
    assert from_hf(to_hf(ner), task="ner").tags == [["B-X", "O"]]


def test_hf_classlabel_names(tmp_path):
    import datasets

    ds = datasets.Dataset.from_dict({"text": ["a", "b"], "label": [0, 1]},
                                    features=datasets.Features({"text": datasets.Value("string"),
                                                                "label": datasets.ClassLabel(names=["neg", "pos"])}))
    ds.save_to_disk(str(tmp_path / "ds"))
    d = read(str(tmp_path / "ds"), format="hf")
    assert d.labels == ["neg", "pos"]


# ---- bad input: each case loads correctly or names the file, the line and what was expected ----

def test_empty_file(tmp_path):
    p = w(tmp_path, "e.csv", "")
    with pytest.raises(DataError, match=r"e\.csv: file is empty"):
        read(p)


def test_missing_column(tmp_path):
    p = w(tmp_path, "m.csv", "text,category\nhi,a\n")
    with pytest.raises(DataError, match=r"m\.csv, line 1: missing label column 'label'.*columns: \['text', 'category'\]"):
        read(p, label_column="label")


def test_short_row(tmp_path):
    p = w(tmp_path, "s.tsv", "text\tlabel\nfine\tpos\nonly text here\n")
    with pytest.raises(DataError, match=r"s\.tsv, line 3: expected 2 fields \(as in the header: text,label\), found 1"):
        read(p)


def test_undecodable_bytes(tmp_path):
    p = w(tmp_path, "u.tsv", b"pos\tfine\nneg\tbad \xff\xfe here\n")
    with pytest.raises(DataError, match=r"u\.tsv, line 2: undecodable bytes.*expected utf-8"):
        read(p)
    assert read(p, encoding="latin-1").texts[1] == "bad \xff\xfe here"


def test_bom_and_crlf_load_correctly(tmp_path):
    p = w(tmp_path, "b.csv", b"\xef\xbb\xbftext,label\r\nhello,pos\r\nbye,neg\r\n")
    d = read(p)
    assert d.texts == ["hello", "bye"] and d.labels == ["pos", "neg"]


def test_empty_text(tmp_path):
    p = w(tmp_path, "t.csv", "text,label\nfine,pos\n   ,neg\n")
    with pytest.raises(DataError, match=r"t\.csv, line 3: empty text"):
        read(p)


def test_dev_label_absent_from_train(tmp_path):
    train = read(w(tmp_path, "tr.csv", "text,label\na,x\nb,y\n"))
    dev = read(w(tmp_path, "dv.csv", "text,label\nc,x\nd,z\n"))
    with pytest.raises(DataError, match=r"dv\.csv, line 3: label 'z' in the dev split is absent from train"):
        LabelMap.from_data(train).check(dev, "dev")


def test_tag_length_mismatch(tmp_path):
    p = w(tmp_path, "n.tsv", "tokens\ttags\nEU rejects it\tB-ORG O O\nPeter Blackburn\tB-PER\n")
    with pytest.raises(DataError, match=r"n\.tsv, line 3: 2 tokens but 1 tags"):
        read(p, task="ner")


def test_bad_tag_in_conll(tmp_path):
    p = w(tmp_path, "c.conll", "EU B-ORG\nrejects X-Y\n")
    with pytest.raises(DataError, match=r"c\.conll, line 2: bad tag 'X-Y'"):
        read(p, format="conll")


def test_one_megabyte_line(tmp_path):
    big = "word " * 210_000
    p = w(tmp_path, "big.tsv", f"text\tlabel\n{big}\tpos\nsmall\tneg\n")
    d = read(p)
    assert len(d.texts[0]) == len(big) and d.labels == ["pos", "neg"]
    p = w(tmp_path, "big.csv", f'text,label\n"{big}",pos\n')
    assert len(read(p).texts[0]) == len(big)


def test_invalid_json_line(tmp_path):
    p = w(tmp_path, "j.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", label}\n')
    with pytest.raises(DataError, match=r"j\.jsonl, line 2: invalid JSON"):
        read(p)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read(str(tmp_path / "nope.csv"))
    p = w(tmp_path, "a.csv", "text,label\na,b\n")
    with pytest.raises(DataError, match="unknown format 'xml'"):
        read(p, format="xml")
