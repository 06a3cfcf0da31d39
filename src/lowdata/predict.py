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


def _undecodable_named(blocks, path: str):
    """The blocks, with a UnicodeDecodeError turned into a DataError naming the file and the first bad line."""
    from .data import DataError

    try:
        yield from blocks
    except UnicodeDecodeError as e:
        line = None
        if path != "<stdin>":
            with open(path, "rb") as f:
                for no, raw in enumerate(f, 1):
                    try:
                        raw.decode("utf-8")
                    except UnicodeDecodeError:
                        line = no
                        break
        raise DataError(f"undecodable bytes {e.object[e.start:e.end]!r} (expected UTF-8 text)", path, line) from None


def stream_file(path: str | None, task: str, fmt: str | None = None, chunk: int = 2048, progress: bool = True):
    """Yield TextData / TokenData chunks of a file (None: stdin, one text per line), with a byte progress bar."""
    from tqdm import tqdm

    from .data import DataError, read
    from .data.readers import _read_jsonl, _sniff

    if path is None:
        for _, block in _undecodable_named(_chunks_of_lines(sys.stdin, chunk), "<stdin>"):
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
        for first, block in _undecodable_named(_chunks_of_lines(f, chunk), path):
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
    from .evaluate.decode import model_decode
    from .evaluate.report import evaluate_split

    import warnings

    from .errors import LowdataWarning

    labels = LabelMap(meta["labels"])
    decode = model_decode(meta) if meta["task"] == "ner" else "argmax"
    noted, n_chunks = [], 0
    for data in chunks:  # a chunk's warnings (texts cut at max_length) are gathered: one line for the whole file
        n_chunks += 1
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", LowdataWarning)
            _, recs = evaluate_split(model, tok, data, labels, meta["max_length"], batch_size,
                                     multilabel=meta if meta.get("multilabel") else None, decode=decode)
        noted += [str(w.message) for w in caught if issubclass(w.category, LowdataWarning)]
        yield from recs
    if noted:
        more = f" (said of the first of {n_chunks} chunks where it happened; later ones too)" if n_chunks > 1 else ""
        warnings.warn(noted[0] + more, LowdataWarning, stacklevel=2)


class _RayPredictor:
    """One model per Ray actor (loaded once), called on batches of {"text": [...]}."""

    def __init__(self, model_dir: str, onnx: bool, int8: bool, batch_size: int):
        self.model, self.tok, self.meta = load_predictor(model_dir, onnx, int8)
        self.batch_size = batch_size

    def __call__(self, batch):
        import pandas as pd

        from .data import TextData

        texts = [str(t).strip() for t in batch["text"]]
        recs = list(predict_stream(self.model, self.tok, self.meta, [TextData(texts)], self.batch_size))
        return pd.DataFrame(recs)


def predict_ray(model_dir: str, path: str, out_dir: str, onnx: bool = False, int8: bool = False,
                batch_size: int = 64, chunk: int = 4096, workers: int = 1) -> int:
    """Ray Data path for files that outgrow one machine (`lowdata[ray]`): read_text -> one model per actor ->
    JSONL shards in `out_dir`, in input order (preserve_order). Classification only (one text per line).
    Returns the number of texts predicted."""
    try:
        import ray
    except ImportError:
        raise ModelError("--engine ray needs Ray: pip install 'lowdata[ray]'") from None
    from .data import DataError

    if os.path.exists(out_dir):
        raise DataError("output folder exists (Ray writes a folder of JSONL shards; choose a new one)", out_dir)
    if not os.path.isfile(path):
        raise DataError("file not found (the Ray path reads one text per line)", path)
    meta = load_predictor(model_dir, onnx, int8)[2]  # fail fast, before Ray starts
    if meta["task"] != "classify":
        raise ModelError(f"{model_dir}: the Ray path predicts classifiers (one text per line); a tagger: use the "
                         f"local path")
    if not ray.is_initialized():
        ray.init(ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ds = ray.data.read_text(path).filter(lambda r: bool(r["text"].strip()))
    ds = ds.map_batches(_RayPredictor, fn_constructor_args=(os.path.abspath(model_dir), onnx, int8, batch_size),
                        batch_size=chunk, concurrency=workers, batch_format="numpy")
    ds.write_json(out_dir)
    return sum(1 for f in os.listdir(out_dir) if f.endswith(".json") for _ in open(os.path.join(out_dir, f)))
