"""Apply augmenters to a dataset file: `lowdata augment`, with multiprocess and Ray engines.

    lowdata augment -i train.tsv -o aug.tsv --aug eda:alpha=0.1 --n 4 --seed 0 [--workers 4 | --engine ray]

Each output row keeps its source's label (NER: tags re-aligned by the NER augmenter). Originals are written first
unless --no-original. The output is written to a temporary file beside it and renamed into place; the input is
never overwritten, nor an existing output without --overwrite. Because every text seeds its own random stream,
the output is byte-identical whatever the number of workers or the engine.
"""
from __future__ import annotations

import csv
import json
import os
import tempfile

from ..data import DataError, read
from ..data.readers import CONLL_EXTS


def _apply_chunk(args):
    spec, seed, n, texts = args
    from . import build

    return build(spec, seed=seed, n=n)(texts)


def augment_texts(texts: list[str], spec: str, seed: int = 0, n: int | None = None, workers: int = 1,
                  engine: str = "local", chunk: int = 512) -> list[list[str]]:
    if engine == "ray":
        return _ray(texts, spec, seed, n, chunk)
    if engine != "local":
        raise ValueError(f"unknown engine {engine!r} (valid: local, ray)")
    chunks = [(spec, seed, n, texts[i: i + chunk]) for i in range(0, len(texts), chunk)]
    if workers <= 1 or len(chunks) == 1:
        outs = [_apply_chunk(c) for c in chunks]
    else:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers) as pool:
            outs = pool.map(_apply_chunk, chunks)
    return [vs for o in outs for vs in o]


def _ray(texts, spec, seed, n, chunk):
    """Ray Data path for corpora that outgrow one machine: map_batches over the texts (needs `lowdata[ray]`)."""
    try:
        import ray
    except ImportError:
        raise ImportError("--engine ray needs Ray: pip install 'lowdata[ray]'") from None
    if not ray.is_initialized():
        ray.init(ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
    ds = ray.data.from_items([{"i": i, "text": t} for i, t in enumerate(texts)])

    def fn(batch):
        out = _apply_chunk((spec, seed, n, list(batch["text"])))
        return {"i": batch["i"], "variants": [json.dumps(v) for v in out]}

    rows = ds.map_batches(fn, batch_size=chunk, batch_format="numpy").take_all()
    rows.sort(key=lambda r: int(r["i"]))
    return [json.loads(r["variants"]) for r in rows]


def augment_file(inp: str, out: str, spec: str, n: int | None = None, seed: int = 0, workers: int = 1,
                 engine: str = "local", fmt: str | None = None, task: str = "classify", keep_original: bool = True,
                 overwrite: bool = False) -> dict:
    if os.path.exists(out) and os.path.samefile(inp, out):
        raise DataError("output is the input file; lowdata never overwrites its input", out)
    if os.path.exists(out) and not overwrite:
        raise FileExistsError(f"{out}: exists; pass --overwrite to replace it")
    check_output_ext(out, task)
    if task == "multilabel":  # label sets travel as one "a,b" label column (lowdata.data.multilabel reads it back)
        from ..data.multilabel import read_multilabel

        data = read_multilabel(inp, format=fmt)
        if any("," in y for ys in data.labels for y in ys):
            raise DataError("a label name holds ',' (the separator of the written label column)", inp)
        labels = [",".join(ys) for ys in data.labels]
    else:
        data = read(inp, format=fmt, task=task)
        labels = getattr(data, "labels", None)  # NER data has tags, used below
    if data.targets is None:
        raise DataError("input has no labels", inp)
    if task == "ner":
        from . import build

        aug = build(spec, seed=seed, n=n)
        if hasattr(aug, "fit"):
            aug.fit(data.tokens, data.tags)
        variants = aug(data.tokens, data.tags)
        rows = ([(t, g) for t, g in zip(data.tokens, data.tags)] if keep_original else [])
        rows += [v for vs in variants for v in vs]
        _write_atomic(out, lambda f: _write_conll(f, rows))
        return {"input": len(data), "output": len(rows)}
    variants = augment_texts(data.texts, spec, seed, n, workers, engine)
    rows = [(t, y, "original") for t, y in zip(data.texts, labels)] if keep_original else []
    rows += [(v, y, spec) for vs, y in zip(variants, labels) for v in vs if v.strip()]
    dropped = sum(1 for vs in variants for v in vs if not v.strip())
    _write_atomic(out, lambda f: write_rows(f, out, rows))
    return {"input": len(data), "output": len(rows), "dropped_empty": dropped}


def _write_atomic(path: str, write) -> None:
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".lowdata-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


ROW_EXTS = (".tsv", ".csv", ".jsonl", ".json")  # what write_rows writes (and the readers read back by extension)


def check_output_ext(path: str, task: str = "classify") -> None:
    """Refuse an output whose extension write_rows / the CoNLL writer would not honour (it fell back to TSV silently:
    `-o out.xlsx` held TSV, `--task ner -o out.jsonl` held CoNLL). Called before any work is done."""
    ext = os.path.splitext(path)[1].lower()
    ok = CONLL_EXTS if task == "ner" else ROW_EXTS
    if ext not in ok:
        raise DataError(f"unknown output format {ext or '(no extension)'!r} for {task} data (expected "
                        f"{', '.join(ok)})", path)


def write_rows(f, path, rows):
    ext = os.path.splitext(path)[1].lower()
    if ext in (".jsonl", ".json"):
        for t, y, src in rows:
            f.write(json.dumps({"text": t, "label": y, "augmenter": src}, ensure_ascii=False) + "\n")
        return
    if ext == ".csv":
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["text", "label"])
        w.writerows((t, y) for t, y, _ in rows)
        return
    f.write("text\tlabel\n")  # TSV: tabs and newlines inside a text become spaces
    for t, y, _ in rows:
        f.write(" ".join(t.replace("\t", " ").splitlines()) + "\t" + y + "\n")


def _write_conll(f, rows):
    for toks, tags in rows:
        for t, g in zip(toks, tags):
            f.write(f"{t}\t{g}\n")
        f.write("\n")
