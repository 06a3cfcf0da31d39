"""The output directory of a run: refuse / resume / overwrite, one process at a time, atomic writes.

    check(out, cfg, resume=False, overwrite=False)        # read-only: may this run use `out`? (before any work)
    with start(out, cfg, resume=False, overwrite=False, inputs=[cfg.data.train]) as run_dir:
        ...                                               # run_dir.checkpoint: the resume folder
        write_json(os.path.join(out, "metrics.json"), metrics)   # metrics.json last: it marks the run finished

Policy (issue 19): a finished run (metrics.json) is never replaced without --overwrite; an unfinished one (a
checkpoint with saved state) is never restarted without --resume or --overwrite; --resume with a config that differs
from the saved one is refused, naming the keys, unless allow_changes=True (the changes are then recorded in
config_changes.json); nothing is written to `out` until `start`, which callers reach only once the inputs are read
and the model loads, so a failed start leaves nothing that blocks the corrected rerun; an exclusive lock
(`.lowdata.lock`, flock: released by the kernel when the process dies, kill -9 included) keeps two processes out of
one directory; a run never writes over one of its own input files.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile

from .errors import RunError, RunExistsError

LOCK = ".lowdata.lock"
# keys whose change on --resume cannot change the result
HARMLESS = {"train.progress", "output_dir", "train.report_to"}


def _finished(out: str) -> bool:
    return os.path.exists(os.path.join(out, "metrics.json"))


def _unfinished(out: str) -> bool:
    """A checkpoint with saved training state: resumable. (An empty checkpoint/ from a start that failed is not.)"""
    ck = os.path.join(out, "checkpoint")
    return os.path.isdir(ck) and any(n.endswith(".pt") or n == "rounds" for n in os.listdir(ck))


def data_inputs(cfg) -> list:
    """The files a train config reads (a run never writes over them)."""
    d = cfg.data
    return [p for p in (d.train, d.dev, d.test, d.unlabeled) if isinstance(p, str)]


def check_dir(out: str) -> None:
    """`out` is a folder or can become one, and is writable."""
    if not out:
        raise RunError("output_dir is empty (expected a folder path)")
    if os.path.exists(out) and not os.path.isdir(out):
        raise RunError(f"{out}: output_dir is a file, not a folder; choose another output_dir")
    probe = os.path.abspath(out)
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise RunError(f"{out}: cannot create output_dir: {probe} is a file")
    try:  # a real write, not os.access: root passes access() on read-only mounts such as /proc
        fd, tmp = tempfile.mkstemp(dir=probe, prefix=".lowdata-probe-")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise RunError(f"{out}: output_dir is not writable ({probe}: {e.strerror}); choose another output_dir") \
            from None


def check_inputs(out: str, inputs) -> None:
    """None of the run's input files may lie where the run writes (out/metrics.json, out/model/...)."""
    root = os.path.realpath(out)
    for p in inputs:
        if not p or not isinstance(p, (str, os.PathLike)) or not os.path.exists(p):
            continue
        rp = os.path.realpath(p)
        if rp == root:
            raise RunError(f"{out}: output_dir is the input {p}; choose another output_dir")
        if rp.startswith(root + os.sep):
            first = os.path.relpath(rp, root).split(os.sep)[0]
            if first in ("config.yaml", "metrics.json", "report.md", "predictions.jsonl", "model", "checkpoint",
                         "tb", "self_training.json", "graph_predict", "config_changes.json", "data", "tokenizer") \
                    or first.startswith(("round_", "confusion_")):
                raise RunError(f"{p}: this input lies where the run writes its outputs ({out}/{first}); "
                               f"move it or choose another output_dir")


def check(out: str, cfg=None, *, resume: bool = False, overwrite: bool = False, allow_changes: bool = False,
          inputs=()) -> None:
    """Read-only: raise unless a run may use `out` as asked. Cheap: call it before loading data and models."""
    check_dir(out)
    check_inputs(out, inputs)
    if not os.path.isdir(out):
        return
    if _finished(out) and not overwrite:
        raise RunExistsError(f"{out}: a finished run is already there (metrics.json); choose another output_dir "
                             f"or pass --overwrite")
    if _unfinished(out) and not resume and not overwrite:
        raise RunExistsError(f"{out}: an unfinished run is there; pass --resume to continue it or --overwrite")
    if resume and cfg is not None and _unfinished(out) and not allow_changes:
        changes = config_changes(out, cfg)
        if changes:
            listed = "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in changes)
            raise RunError(f"{out}: --resume with a config that differs from the run's ({listed}); rerun with the "
                           f"same settings, or pass --allow-config-change to continue with the new ones")


def config_changes(out: str, cfg) -> list[tuple]:
    """[(key, saved value, new value)] between out/config.yaml and `cfg`, harmless keys left out."""
    import yaml

    from .config import to_dict

    path = os.path.join(out, "config.yaml")
    if not os.path.exists(path):
        return []
    from .config import migrate

    with open(path, encoding="utf-8") as f:
        saved = yaml.safe_load(f) or {}
    old = _flat(migrate(saved) if isinstance(saved, dict) else {})  # a run saved before a key moved compares equal
    new = _flat(yaml.safe_load(yaml.safe_dump(to_dict(cfg))))  # through YAML, as the saved one went
    return [(k, old.get(k), new.get(k)) for k in sorted(set(old) | set(new))
            if k not in HARMLESS and old.get(k) != new.get(k)]


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


class RunDir:
    """A started run: holds the directory's lock until `close` (or the end of a `with` block)."""

    def __init__(self, out: str, fd: int):
        self.out, self._fd = out, fd
        self.checkpoint = os.path.join(out, "checkpoint")

    def close(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def lock(out: str) -> int:
    """An exclusive, non-blocking lock on out/.lowdata.lock -> its fd; RunError when another process holds it."""
    os.makedirs(out, exist_ok=True)
    fd = os.open(os.path.join(out, LOCK), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RunError(f"{out}: another lowdata process is using this output_dir; wait for it to finish or "
                       f"choose another output_dir") from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def start(out: str, cfg=None, *, resume: bool = False, overwrite: bool = False, allow_changes: bool = False,
          inputs=(), checkpoint: bool = True) -> RunDir:
    """Lock `out`, check the policy again under the lock, clear what --overwrite replaces, write config.yaml.
    checkpoint=False: a run that keeps no resume state of its own (self-training: its rounds do)."""
    check_dir(out)
    fd = lock(out)
    try:
        check(out, cfg, resume=resume, overwrite=overwrite, allow_changes=allow_changes, inputs=inputs)
        ckdir = os.path.join(out, "checkpoint")
        if resume and cfg is not None and allow_changes and _unfinished(out):
            changes = config_changes(out, cfg)
            if changes:
                log = os.path.join(out, "config_changes.json")
                past = json.load(open(log, encoding="utf-8")) if os.path.exists(log) else []
                write_json(log, past + [{"key": k, "before": a, "after": b} for k, a, b in changes])
                print(f"{out}: resuming with changed settings: "
                      + "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in changes), flush=True)
        if overwrite and not resume:
            shutil.rmtree(ckdir, ignore_errors=True)  # no stale state to resume
        if overwrite and _finished(out):
            os.unlink(os.path.join(out, "metrics.json"))  # not finished any more
        if checkpoint:
            os.makedirs(ckdir, exist_ok=True)
        if cfg is not None:
            from .config import dump_config

            tmp = os.path.join(out, "config.yaml.tmp")
            dump_config(cfg, tmp)
            os.replace(tmp, os.path.join(out, "config.yaml"))
        return RunDir(out, fd)
    except BaseException:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        raise


def write_text(path: str, text: str) -> None:
    """Write `text` to a temporary file beside `path`, then rename it into place (readers never see half)."""
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".lowdata-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: str, obj, indent: int = 2) -> None:
    write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False))


def write_lines(path: str, records) -> None:
    """JSON Lines, atomically."""
    write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def replace_dir(path: str, write) -> None:
    """write(tmp_dir) fills a fresh folder beside `path`, which then replaces `path` (a model directory)."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=".lowdata-" + os.path.basename(path) + "-")
    try:
        write(tmp)
        if os.path.isdir(path):
            old = tmp + ".old"
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def output_file(path: str, inputs=(), overwrite: bool = False) -> None:
    """May a verb write the file `path`? Never over one of its inputs; over an existing file only with overwrite."""
    if not path:
        return
    for p in inputs:  # the same path, a symlink to it (realpath) or a hard link (samefile)
        if p and (os.path.realpath(p) == os.path.realpath(path) or
                  os.path.exists(p) and os.path.exists(path) and os.path.samefile(p, path)):
            raise RunError(f"{path}: the output is the input file {p}; lowdata never writes over its input")
    if os.path.isdir(path):
        raise RunError(f"{path}: is a folder (expected an output file path)")
    if os.path.exists(path) and not overwrite:
        raise RunExistsError(f"{path}: exists; pass --overwrite to replace it")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise RunError(f"{path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise RunError(f"{path}: the folder {parent} is not writable")


def load_checkpoint(path: str):
    """torch.load with weights_only=True: tensors, numbers, strings and containers only. A file that would need
    arbitrary unpickling (code execution) is refused with RunError and nothing in it runs."""
    import pickle

    import torch

    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError, ValueError, TypeError) as e:
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise RunError(f"{path}: not a checkpoint lowdata can load safely (refused: {first}); lowdata never "
                       f"unpickles arbitrary objects. Delete it, or pass --overwrite to start the run again") from None
