import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# The one setting through which tests read ../shared/data.
DATA = Path(os.environ.get("LOWDATA_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


# Lexicons for augmentation tests come from the same data root.
if (DATA / "wordnet-3.0").exists():
    os.environ.setdefault("LOWDATA_WORDNET", str(DATA / "wordnet-3.0"))
if (DATA / "cilin-synonyms-zh").exists():
    os.environ.setdefault("LOWDATA_CILIN", str(DATA / "cilin-synonyms-zh" / "同义词.txt"))


def data_path(*parts) -> Path:
    p = DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared data not found: {p} (set LOWDATA_DATA)")
    return p


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    from lowdata.backbone import make_tiny

    return make_tiny(str(tmp_path_factory.mktemp("tiny") / "bert"))


def save_random_model(tiny_model, path, task="classify", labels=("neg", "pos", "meh"), max_length=32,
                      scale=2.0, seed=0, **kw):
    """A model folder of the tiny encoder + a random head far from zero (differences between two ways of running
    it would show); kw: TaskModel's pooling / normalize. -> (path, the in-memory model, tokenizer)"""
    import torch

    from lowdata.backbone import TaskModel, load_encoder

    enc, tok = load_encoder(tiny_model)
    m = TaskModel(enc, len(labels), task, **kw)
    torch.manual_seed(seed)
    m.head.weight.data.normal_(0, scale)
    m.save(str(path), tok, list(labels), max_length)
    return str(path), m.eval(), tok


@pytest.fixture
def toy_files(tmp_path):
    """A trivially separable sentiment task: any working loop learns it."""
    import random

    rng = random.Random(0)
    pos, neg = ["good", "great", "fine", "nice"], ["bad", "awful", "poor", "worse"]

    def make(n):
        rows = []
        for _ in range(n):
            lab = rng.choice(["pos", "neg"])
            words = [rng.choice(pos if lab == "pos" else neg) for _ in range(rng.randint(1, 4))]
            rows.append(f"{lab}\t{' '.join(words)} movie")
        return "\n".join(rows) + "\n"

    for name, n in (("train", 64), ("dev", 32), ("test", 40)):
        (tmp_path / f"{name}.tsv").write_text(make(n))
    return tmp_path


@pytest.fixture
def toy_ner(tmp_path):
    import random

    rng = random.Random(1)
    names, cities = ["john", "mary", "anna", "paul"], ["paris", "rome", "oslo", "lima"]

    def make(n):
        out = []
        for _ in range(n):
            who, where = rng.choice(names), rng.choice(cities)
            out.append(f"{who}\tB-PER\nlives\tO\nin\tO\n{where}\tB-LOC\n.\tO\n")
        return "\n".join(out)

    for name, n in (("train", 48), ("dev", 16), ("test", 16)):
        (tmp_path / f"{name}.conll").write_text(make(n))
    return tmp_path


def tiny_cfg(model, files, out, task="classify", ext="tsv", **train):
    from lowdata.config import Config, DataConfig, ModelConfig, TrainConfig

    t = dict(epochs=6, batch_size=8, lr=5e-3, head_lr=5e-3, progress=False, report_to=[], save_every=5, patience=0,
             warmup_ratio=0.0)
    t.update(train)
    return Config(data=DataConfig(train=str(files / f"train.{ext}"), dev=str(files / f"dev.{ext}"),
                                  test=str(files / f"test.{ext}"), task=task),
                  model=ModelConfig(name=model, max_length=32), train=TrainConfig(**t), output_dir=str(out))


@pytest.fixture(scope="session")
def tiny_mlm(tmp_path_factory):
    from lowdata.backbone import make_tiny

    return make_tiny(str(tmp_path_factory.mktemp("tiny") / "mlm"), head="mlm")


@pytest.fixture(scope="session")
def tiny_causal(tmp_path_factory):
    from lowdata.backbone import make_tiny

    return make_tiny(str(tmp_path_factory.mktemp("tiny") / "gpt"), head="causal")


def _required(what: str):
    """In CI (LOWDATA_REQUIRE_SERVICES=1, set by .ci/run, which installs them) a missing service fails the test."""
    if os.environ.get("LOWDATA_REQUIRE_SERVICES"):
        pytest.fail(f"{what} is required here (LOWDATA_REQUIRE_SERVICES=1) but not installed")
    pytest.skip(f"{what} not installed")


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server (Debian's postgresql package), started for the tests on a private Unix socket."""
    import glob
    import shutil
    import socket
    import subprocess
    import tempfile

    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        _required("PostgreSQL (apt-get install postgresql)")
    bindir = os.path.dirname(bins[-1])
    root = tempfile.mkdtemp(prefix="lowdata-pg-")
    as_user = []
    if os.geteuid() == 0:  # the server refuses to run as root: run it as the package's postgres user
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = os.path.join(root, "data")
    subprocess.run(as_user + [f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "lowdata", "--no-sync"],
                   check=True, capture_output=True)
    subprocess.run(as_user + [f"{bindir}/pg_ctl", "-D", data, "-l", os.path.join(root, "log"), "-w", "-o",
                              f"-k {root} -p {port} -c listen_addresses='' -c fsync=off", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql://lowdata@/postgres?host={root}&port={port}"
    finally:
        subprocess.run(as_user + [f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def chromium() -> str:
    import shutil

    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not exe:
        _required("Chromium (apt-get install chromium)")
    return exe


def chromium_args(profile) -> list:
    """Headless flags that work as root on a machine with no network (see the env notes)."""
    return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}"]
