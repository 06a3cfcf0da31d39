"""Batch prediction in bounded memory: texts stream in, records stream out in input order.

    from lowdata.predict import load_predictor, stream_file, predict_stream
    model, tok, meta = load_predictor("runs/sst2/model")            # or an ONNX folder (lowdata export)
    for rec in predict_stream(model, tok, meta, stream_file("big.txt", "classify")):
        ...

One text per line files and JSONL files are read `chunk` records at a time (a JSONL chunk goes through the same
reader as every other JSONL file, its error lines shifted to the file's own); a chunk is encoded, sorted by length
into batches (little padding), predicted, and written back in input order before the next chunk is read. Memory
holds one chunk, whatever the file's size. Other formats (CSV, TSV, CoNLL) are read whole first.
"""
from __future__ import annotations

import os
import sys

from .errors import ModelError


def load_predictor(path: str, onnx: bool = False, int8: bool = False):
    """(model, tokenizer, meta): a lowdata model folder (PyTorch), or an ONNX folder written by lowdata export
    (onnxruntime; chosen by its model.onnx, or asked for with onnx=True)."""
    from .export import is_onnx_dir, load_onnx

    if onnx or int8 or is_onnx_dir(path):
        if not is_onnx_dir(path):
            raise ModelError(f"{path}: no model.onnx here (export one: lowdata export --model {path} --format onnx "
                             f"-o OUT, then pass OUT)")
        return load_onnx(path, int8)
    from .backbone import TaskModel

    return TaskModel.load(path)


def _chunks_of_lines(f, chunk: int):
    """(first line number, [lines]) blocks of `chunk` lines."""
    block, first = [], 1
    for no, ln in enumerate(f, 1):
        if not block:
            first = no
        block.append(ln)
        if len(block) >= chunk:
            yield first, block
            block = []
    if block:
        yield first, block


def stream_file(path: str | None, task: str, fmt: str | None = None, chunk: int = 2048, progress: bool = True):
    """Yield TextData / TokenData chunks of a file (None: stdin, one text per line), with a byte progress bar."""
    from tqdm import tqdm

    from .data import DataError, read
    from .data.readers import _read_jsonl, _sniff

    if path is None:
        for _, block in _chunks_of_lines(sys.stdin, chunk):
            data = _plain(block, "<stdin>", 1, task)
            if data is not None:
                yield data
        return
    if not os.path.exists(path):
        raise DataError("file not found", path)
    if os.path.isdir(path):
        raise DataError("is a folder (expected a file of texts)", path)
    with open(path, "rb") as f:
        head = f.read(65536).decode("utf-8", errors="replace")
    if not head.strip():
        raise DataError("file is empty (expected at least one text)", path)
    fmt = fmt or _sniff(path, head, labeled=False)
    if fmt not in ("text", "jsonl") or head.lstrip().startswith("["):  # a JSON array is one document: read whole
        yield read(path, format=fmt, task=task, labeled=False)
        return
    bar = tqdm(total=os.path.getsize(path), unit="B", unit_scale=True, desc="predict", disable=not progress,
               file=sys.stderr)
    with open(path, encoding="utf-8-sig", newline="\n") as f:
        for first, block in _chunks_of_lines(f, chunk):
            bar.update(sum(len(ln.encode("utf-8")) for ln in block))
            if fmt == "text":
                data = _plain(block, path, first, task)
            else:
                text = "".join(block)
                if not text.strip():
                    continue
                try:
                    data = _read_jsonl(path, text, task, None, None, False)
                except DataError as e:
                    raise DataError(e.reason, path, None if e.line is None else e.line + first - 1) from None
            if data is not None:
                yield data
    bar.close()


def _plain(block: list[str], source: str, first: int, task: str):
    from .data import TextData, TokenData

    rows = [(first + i, ln.rstrip("\n").rstrip("\r").strip()) for i, ln in enumerate(block)]
    rows = [(no, t) for no, t in rows if t]
    if not rows:
        return None
    lines, texts = [no for no, _ in rows], [t for _, t in rows]
    if task == "ner":
        return TokenData([t.split() for t in texts], None, source=source, lines=lines)
    return TextData(texts, None, source=source, lines=lines)


def predict_stream(model, tok, meta, chunks, batch_size: int = 64):
    """Prediction records (lowdata predict's JSON lines), in input order, one chunk at a time."""
    from .data import LabelMap
    from .evaluate.report import evaluate_split

    import warnings

    from .errors import LowdataWarning

    labels = LabelMap(meta["labels"])
    noted, n_chunks = [], 0
    for data in chunks:  # a chunk's warnings (texts cut at max_length) are gathered: one line for the whole file
        n_chunks += 1
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", LowdataWarning)
            _, recs = evaluate_split(model, tok, data, labels, meta["max_length"], batch_size,
                                     multilabel=meta if meta.get("multilabel") else None)
        noted += [str(w.message) for w in caught if issubclass(w.category, LowdataWarning)]
        yield from recs
    if noted:
        more = f" (said of the first of {n_chunks} chunks where it happened; later ones too)" if n_chunks > 1 else ""
        warnings.warn(noted[0] + more, LowdataWarning, stacklevel=2)
