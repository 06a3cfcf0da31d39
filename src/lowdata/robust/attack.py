"""Adversarial examples that measure robustness, composed as in TextAttack (Morris et al., EMNLP 2020 demos):
a transformation (the edits a word may get), constraints (which edited texts count), a goal (untargeted: the
victim's predicted label changes) and a search (greedy by word importance, as TextFooler: Jin et al., AAAI 2020).

    victim = Victim.load("runs/sst2/model")                 # a `lowdata train` classification model
    res = attack(victim, texts, labels, recipe="synonym", max_rate=0.2)
    res["summary"]   # accuracy, accuracy_under_attack, success_rate, perturbed (word fraction), queries
    res["records"]   # per text: status (success | failed | skipped), adversarial text, changed words

Recipes (the transformations reuse lowdata.augment's lexicons and keyboard map, so English and Chinese work):
  synonym  a word -> each of its single-word synonyms, at most 50 (WordNet for English, HIT Cilin for Chinese words
           from jieba). Deviation from TextFooler: WordNet instead of counter-fitted embedding neighbours, and no
           POS or sentence-encoder similarity check, so the attack is at least as strong (accuracy under attack is
           a lower bound on what TextFooler would report).
  typo     a word -> one character edit: keyboard-neighbour substitution, adjacent swap, deletion (DeepWordBug's
           edit types, Gao et al., 2018), at most 30 per word drawn with the per-text random stream.
Constraints: at most max_rate of the words changed (at least one); stop words and tokens without a letter are never
changed; a word is changed at most once. Search: word importance = drop of the true-label probability when the word
is deleted (TextFooler's deletion score without its label-change term); words are tried in that order, all
candidates of a word scored in one batch; a candidate that changes the label ends the attack (the one with the
lowest true-label probability), otherwise the candidate that lowers it most is kept if it lowers it at all.
Only texts the victim gets right are attacked ("skipped" otherwise), as is the convention.
"""
from __future__ import annotations

import numpy as np

RECIPES = ("synonym", "typo")


class Victim:
    """A classifier as a function texts -> probabilities (N, C), counting the texts it is asked about."""

    def __init__(self, model, tok, labels, max_length: int = 128, batch_size: int = 64, device=None):
        import torch

        self.model, self.tok, self.labels, self.max_length = model, tok, labels, max_length
        self.batch_size, self.queries = batch_size, 0
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device).eval()

    @classmethod
    def load(cls, path: str, **kw) -> "Victim":
        from ..backbone import TaskModel
        from ..data import LabelMap

        model, tok, meta = TaskModel.load(path)
        if meta["task"] != "classify":
            raise ValueError(f"{path}: attacks are for classification models (this one is {meta['task']!r})")
        return cls(model, tok, LabelMap(meta["labels"]), meta["max_length"], **kw)

    def probs(self, texts: list[str]) -> np.ndarray:
        from ..batching import predict_probs

        self.queries += len(texts)
        return predict_probs(self.model, self.tok, texts, self.max_length, self.batch_size, self.device)


def _case_like(word: str, new: str) -> str:
    return new[:1].upper() + new[1:] if word[:1].isupper() else new


class Transformation:
    """recipe -> word candidates; split(text) -> (words, joiner) in the text's language."""

    def __init__(self, recipe: str = "synonym", seed: int = 0, wordnet_dir: str | None = None,
                 cilin_path: str | None = None):
        if recipe not in RECIPES:
            raise ValueError(f"unknown attack recipe {recipe!r} (valid: {', '.join(RECIPES)})")
        from ..augment.eda import EDA

        self.recipe, self.seed = recipe, seed
        self._eda = EDA(n=1, seed=seed, wordnet_dir=wordnet_dir, cilin_path=cilin_path)

    def split(self, text: str):
        """-> (words, joiner, synonym source) for the text's language."""
        return self._eda.split(text)

    def eligible(self, word: str) -> bool:
        from ..augment.eda import _ALPHA, stopwords

        return word.lower() not in stopwords() and _ALPHA.search(word) is not None

    def candidates(self, word: str, rng, syn) -> list[str]:
        if self.recipe == "synonym":
            out = [_case_like(word, s) for s in syn(word) if " " not in s]
            return [c for c in dict.fromkeys(out) if c != word][:50]
        from ..augment.noise import _NEIGH

        out = []
        for i, c in enumerate(word):
            out += [word[:i] + (d.upper() if c.isupper() else d) + word[i + 1:] for d in _NEIGH.get(c.lower(), "")]
            if i + 1 < len(word) and word[i + 1] != c:
                out.append(word[:i] + word[i + 1] + c + word[i + 2:])
            if len(word) > 1:
                out.append(word[:i] + word[i + 1:])
        out = [x for x in dict.fromkeys(out) if x != word]
        return rng.sample(out, 30) if len(out) > 30 else out


def attack_one(victim: Victim, text: str, label: int, tf: Transformation, max_rate: float = 0.2) -> dict:
    from ..augment.rng import Stream, seed_of

    start = victim.queries
    ws, sep, syn = tf.split(text)
    p0 = victim.probs([text])[0]
    rec = {"text": text, "label": victim.labels.names[label], "pred": victim.labels.names[int(p0.argmax())],
           "adversarial": text, "adv_pred": None, "changed": [], "status": "skipped"}
    if int(p0.argmax()) != label or not ws:
        rec["queries"] = victim.queries - start
        return rec
    idx = [i for i, w in enumerate(ws) if tf.eligible(w)]
    if len(ws) > 1 and idx:  # importance by deletion, one batch
        pd = victim.probs([sep.join(ws[:i] + ws[i + 1:]) for i in idx])
        drop = p0[label] - pd[:, label]
        idx = [idx[j] for j in np.argsort(-drop, kind="stable")]
    rng = Stream(seed_of(str(tf.seed), "attack", text))
    budget, cur, cur_p = max(1, int(max_rate * len(ws))), list(ws), p0
    status = "failed"
    for i in idx:
        if len(rec["changed"]) >= budget:
            break
        cands = tf.candidates(ws[i], rng, syn)
        if not cands:
            continue
        P = victim.probs([sep.join(cur[:i] + [c] + cur[i + 1:]) for c in cands])
        flips = np.flatnonzero(P.argmax(1) != label)
        k = int(flips[np.argmin(P[flips, label])]) if len(flips) else int(np.argmin(P[:, label]))
        if len(flips) or P[k, label] < cur_p[label]:
            rec["changed"].append([i, ws[i], cands[k]])
            cur[i], cur_p = cands[k], P[k]
        if len(flips):
            status = "success"
            break
    rec.update(adversarial=sep.join(cur), adv_pred=victim.labels.names[int(cur_p.argmax())], status=status,
               perturbed=len(rec["changed"]) / len(ws), queries=victim.queries - start)
    return rec


def attack(victim: Victim, texts: list[str], labels: list[str], recipe: str = "synonym", max_rate: float = 0.2,
           seed: int = 0, progress: bool = True, **lexicons) -> dict:
    from tqdm.auto import tqdm

    tf = Transformation(recipe, seed, **lexicons)
    y = [victim.labels.encode(lab) for lab in labels]
    recs = [attack_one(victim, t, lab, tf, max_rate) for t, lab in
            tqdm(list(zip(texts, y)), desc=f"attack ({recipe})", disable=not progress, dynamic_ncols=True)]
    n = len(recs)
    attacked = [r for r in recs if r["status"] != "skipped"]
    won = [r for r in attacked if r["status"] == "success"]
    summary = {"recipe": recipe, "max_rate": max_rate, "n": n,
               "accuracy": len(attacked) / n if n else 0.0,
               "accuracy_under_attack": (len(attacked) - len(won)) / n if n else 0.0,
               "success_rate": len(won) / len(attacked) if attacked else 0.0,
               "perturbed": float(np.mean([r["perturbed"] for r in won])) if won else 0.0,
               "queries": float(np.mean([r["queries"] for r in recs])) if recs else 0.0}
    return {"summary": summary, "records": recs}


def render_markdown(summary: dict, title: str) -> str:
    s = summary
    return (f"# {title}\n\n| measure | value |\n|---|---:|\n| texts | {s['n']} |\n"
            f"| clean accuracy | {s['accuracy']:.4f} |\n| accuracy under attack | {s['accuracy_under_attack']:.4f} |\n"
            f"| attack success rate (of correct texts) | {s['success_rate']:.4f} |\n"
            f"| words changed (successful attacks) | {s['perturbed']:.1%} |\n"
            f"| victim queries per text | {s['queries']:.1f} |\n\n"
            f"Recipe `{s['recipe']}`, at most {s['max_rate']:.0%} of the words changed.\n")
