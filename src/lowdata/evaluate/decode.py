"""NER tag decoding: per-word argmax, or the best tag sequence the tag scheme allows (constrained Viterbi).

    mode, why = choose_decode("auto", names, train_tags)     # -> ("viterbi", "IOB2") or ("argmax", reason)
    paths = decode(word_logits, names, mode)                 # [(n_words, C) tensors] -> [[tag index per word]]

A softmax tagger scores each word alone, so its argmax can write sequences no scheme allows: an I-PER after O, or
B-PER then I-LOC. Constrained decoding (Lester, Pressel, Hemmeter, Ray Choudhury & Bangalore 2020, "Constrained
Decoding for Computationally Efficient Named Entity Recognition Taggers", Findings of EMNLP) runs Viterbi over the
words' log-probabilities with the scheme's illegal transitions at -inf and nothing learned: it finds the most probable
legal sequence. They report it matching a CRF on softmax taggers. Schemes: IOB2 (B-, I-), IOBES (B-, I-, E-, S-) and
BILOU (B-, I-, L-, U-), read off the label names; "O" is outside. IOB1 data (an entity may start with I-) or IO data
have the same names as IOB2, so `choose_decode` also checks the training tags: where entities start with I- the
constraints would forbid the data's own sequences, and argmax is kept. Deviation from the paper: emission scores are
the word's log-softmax (its first subtoken's, as lowdata predicts), with no learned or hand-set transition weights.
"""
from __future__ import annotations

SCHEMES = {"IOB2": set("BI"), "IOBES": set("BIES"), "BILOU": set("BILU")}
NEG = float("-inf")


def _split(name: str):
    """'B-PER' -> ('B', 'PER'); 'O' -> ('O', ''); anything else -> None."""
    if name == "O":
        return "O", ""
    if len(name) > 2 and name[1] == "-":
        return name[0], name[2:]
    return None


def scheme(names: list[str]) -> str | None:
    """The tag scheme the label names follow (IOB2, IOBES, BILOU), or None: a name that is neither O nor P-TYPE, or a
    type with an inside tag and no begin tag."""
    parts = [_split(n) for n in names]
    if any(p is None for p in parts):
        return None
    prefixes = {p for p, _ in parts if p != "O"}
    if not prefixes:
        return None
    if any(p in "IEL" and ("B", t) not in parts for p, t in parts):  # an entity type that could never begin
        return None
    for name, prefs in SCHEMES.items():  # IOB2 first: the smallest set that holds the prefixes
        if prefixes <= prefs:
            return name
    return None


def allowed(names: list[str], sch: str):
    """(start[C], trans[C, C], end[C]) booleans: may a sequence start with tag j, may tag j follow tag i, may it end
    with tag j, under scheme `sch`."""
    import torch

    parts = [_split(n) for n in names]
    C = len(names)
    inside = ("I",) if sch == "IOB2" else ("I", "E" if sch == "IOBES" else "L")  # tags that continue an entity
    open_ = ("B", "I")  # tags after which the entity must go on (IOBES / BILOU); in IOB2 it may go on
    start = torch.tensor([p not in inside for p, _ in parts])
    end = torch.ones(C, dtype=torch.bool) if sch == "IOB2" else torch.tensor([p not in open_ for p, _ in parts])
    trans = torch.zeros(C, C, dtype=torch.bool)
    for i, (pi, ti) in enumerate(parts):
        for j, (pj, tj) in enumerate(parts):
            if pj in inside:  # continues an entity: only after its own type's B or I
                ok = pi in open_ and ti == tj
            elif sch == "IOB2":
                ok = True
            else:  # starts or is outside: only once the previous entity has ended
                ok = pi not in open_
            trans[i, j] = ok
    return start, trans, end


def violations(tags: list[list[str]], names: list[str], sch: str) -> int:
    """How many sentences of `tags` hold a sequence that scheme `sch` forbids."""
    start, trans, end = (m.tolist() for m in allowed(names, sch))  # lists: fast to index one by one
    ix = {n: i for i, n in enumerate(names)}
    bad = 0
    for seq in tags:
        js = [ix[t] for t in seq if t in ix]
        if js and (not start[js[0]] or not end[js[-1]] or any(not trans[a][b] for a, b in zip(js, js[1:]))):
            bad += 1
    return bad


def choose_decode(mode: str, names: list[str], train_tags: list[list[str]] | None = None) -> tuple[str, str]:
    """config `model.ner_decode` (auto | viterbi | argmax) -> (the mode a tagger decodes with, the reason).
    auto: viterbi where the names read as a scheme and no more than 1% of the training sentences (at least one
    sentence allowed) break it; a stray annotation error should not switch it off, IOB1 or IO data does."""
    if mode == "argmax":
        return "argmax", "model.ner_decode=argmax"
    sch = scheme(names)
    if sch is None:
        if mode == "viterbi":
            from ..errors import ConfigError

            raise ConfigError(f"model.ner_decode=viterbi needs IOB2, IOBES or BILOU tags (O and B-TYPE, I-TYPE, ...); "
                              f"the labels are {', '.join(names[:8])}{' ...' if len(names) > 8 else ''}")
        return "argmax", "the tags follow no IOB2 / IOBES / BILOU scheme"
    if mode == "auto" and train_tags:
        bad = violations(train_tags, names, sch)
        if bad > max(1, 0.01 * len(train_tags)):
            return "argmax", (f"{bad} of {len(train_tags)} training sentences break {sch} (IOB1 or IO tags?): "
                              f"decoded word by word")
    return "viterbi", sch


def model_decode(meta: dict, where: str = "lowdata.json") -> str:
    """A saved tagger's decoding from its lowdata.json (models written before it existed: argmax)."""
    mode = meta.get("ner_decode", "argmax")
    if mode not in ("argmax", "viterbi") or mode == "viterbi" and scheme(meta.get("labels") or []) is None:
        from ..errors import ModelError

        raise ModelError(f"{where}: ner_decode is {mode!r}; expected argmax, or viterbi with IOB2 / IOBES / BILOU "
                         f"labels")
    return mode


def decode(word_logits: list, names: list[str], mode: str = "argmax", batch: int = 256) -> list[list[int]]:
    """[(n_words, C) logits per sentence] -> the tag index of every word: argmax, or constrained Viterbi."""
    if mode == "argmax":
        return [row.argmax(-1).tolist() for row in word_logits]
    sch = scheme(names)
    if mode != "viterbi" or sch is None:
        raise ValueError(f"NER decoding {mode!r} over labels {names[:6]}: expected argmax, or viterbi with "
                         f"IOB2 / IOBES / BILOU labels")
    import torch

    start, trans, end = allowed(names, sch)
    zero = torch.zeros(())
    start_p, trans_p, end_p = (torch.where(m, zero, torch.tensor(NEG)) for m in (start, trans, end))
    out = []
    for s in range(0, len(word_logits), batch):
        out += _viterbi([x.float() for x in word_logits[s: s + batch]], start_p, trans_p, end_p)
    return out


def _viterbi(rows, start_p, trans_p, end_p) -> list[list[int]]:
    import torch

    C = start_p.shape[0]
    lens = torch.tensor([len(r) for r in rows])
    B, T = len(rows), int(lens.max()) if len(rows) else 0
    if T == 0:
        return [[] for _ in rows]
    E = torch.zeros(B, T, C)
    for b, r in enumerate(rows):
        if len(r):
            E[b, :len(r)] = torch.log_softmax(r, -1)
    score = E[:, 0] + start_p
    keep = torch.arange(C).expand(B, C)
    back = []
    for t in range(1, T):
        best, idx = (score.unsqueeze(2) + trans_p).max(1)  # over the previous tag
        on = (t < lens).unsqueeze(1)
        score = torch.where(on, best + E[:, t], score)  # a finished sentence keeps its score and its tag
        back.append(torch.where(on, idx, keep))
    final = score + end_p
    last = final.argmax(-1)
    paths = [last]
    for idx in reversed(back):
        last = idx.gather(1, last.unsqueeze(1)).squeeze(1)
        paths.append(last)
    P = torch.stack(paths[::-1], 1)
    legal = torch.isfinite(final.max(-1).values)  # no legal sequence (a scheme with no single-word entity): argmax
    return [P[b, :int(n)].tolist() if legal[b] else E[b, :int(n)].argmax(-1).tolist() for b, n in enumerate(lens)]
