"""Data reconstruction: mask some words and refill them with a masked LM (contextual augmentation: Kobayashi,
NAACL 2018; Wu et al., "Conditional BERT Contextual Augmentation", ICCS 2019), batched.

    aug = MLMRefill(model="path/to/mlm", p=0.15, top_k=20, n=2, seed=0, keep_words=label_words(texts, labels))
    aug(["a gripping and funny film"]) -> [["a gripping and clever film", "a tense and funny film"]]

Per variant, max(1, round(p * words)) words (not in `keep_words`, not punctuation) are each replaced by one mask
token; all variants of all texts go through the MLM in length-sorted batches; each mask is refilled by sampling
from the top-k / top-p (nucleus) filtered distribution, never with a special token or a "##" continuation piece.
Works with any Hugging Face MLM, including one pretrained by lowdata. A model saved without an MLM head (e.g.
all-MiniLM-L6-v2) gets a fresh head from transformers (decoder tied to the word embeddings, transform untrained),
and a LowdataWarning says so: run `lowdata pretrain` first for useful refills.
Deviation from Wu et al.: no label-conditioning of the MLM itself; label safety comes from `keep_words` and the
label-consistency filter in lowdata.synth.
"""
from __future__ import annotations

import math
import re

from .base import Augmenter
from .rng import Stream

_TOKEN_OK = re.compile(r"^[^\W_]+$")


def _warn_untrained(name: str, info: dict, what: str, advice: str) -> None:
    """A LowdataWarning when from_pretrained initialised weights the checkpoint lacked (a head it never had)."""
    import warnings

    from ..errors import LowdataWarning

    missing = [k for k in info.get("missing_keys", []) if not k.endswith("position_ids")]
    if missing:
        warnings.warn(f"{name}: has no trained {what} ({len(missing)} weights newly initialised, e.g. "
                      f"{missing[0]}): {advice}", LowdataWarning, stacklevel=3)


def label_words(texts: list[str], labels: list[str], top: int = 20, min_count: int = 2) -> set:
    """Words most associated with each label (smoothed log-odds of the word in the class vs the rest): the
    label-bearing words that refilling should keep."""
    from collections import Counter

    per = {}
    for t, y in zip(texts, labels):
        per.setdefault(y, Counter()).update(w.lower() for w in t.split())
    total = sum(per.values(), Counter())
    keep = set()
    for y, c in per.items():
        rest = total - c
        n_c, n_r = sum(c.values()), sum(rest.values())
        score = {w: math.log((c[w] + 0.5) / (n_c + 1)) - math.log((rest[w] + 0.5) / (n_r + 1))
                 for w in c if total[w] >= min_count and _TOKEN_OK.match(w)}
        keep |= set(sorted(score, key=lambda w: (-score[w], w))[:top])
    return keep


class MLMRefill(Augmenter):
    name = "mlm_refill"

    def __init__(self, model: str = "minilm", p: float = 0.15, top_k: int = 20, top_p: float = 1.0, n: int = 1,
                 seed: int = 0, keep_words=None, batch_size: int = 64, max_length: int = 128, device: str | None = None,
                 dtype: str = "auto"):
        super().__init__(n, seed)
        if dtype not in ("auto", "float32", "bfloat16"):
            raise ValueError(f"dtype must be auto, float32 or bfloat16, got {dtype!r}")
        self.dtype = dtype
        self.model_name, self.p, self.top_k, self.top_p = model, p, top_k, top_p
        self.keep = {w.lower() for w in (keep_words or ())}
        self.batch_size, self.max_length, self.device = batch_size, max_length, device
        self._model = self._tok = None

    def load(self):
        if self._model is None:
            import torch
            from transformers import AutoModelForMaskedLM, AutoTokenizer
            from transformers.utils import logging as hf_logging

            from ..backbone import from_pretrained
            from ..hardware import bf16_fast

            hf_logging.set_verbosity_error()
            self._tok = from_pretrained(AutoTokenizer, self.model_name, "mlm_refill model")
            dev = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            self._model, info = from_pretrained(AutoModelForMaskedLM, self.model_name, "mlm_refill model",
                                                output_loading_info=True)
            self._model = self._model.to(dev).eval()
            _warn_untrained(self.model_name, info, "masked-LM head", "refills are close to random words; run "
                            "`lowdata pretrain` on your texts first (it trains the head)")
            if self.dtype == "bfloat16" or (self.dtype == "auto" and bf16_fast(dev)):
                self._model.to(torch.bfloat16)
            self._words = {}  # token id -> refill string
            vocab = self._tok.convert_ids_to_tokens(list(range(len(self._tok))))
            # a refill is one whole word: no WordPiece "##" continuation; with a SentencePiece vocabulary (most
            # pieces start with U+2581, e.g. e5-small's) every piece without that word-start mark is a continuation
            sp = sum(t.startswith("\u2581") for t in vocab) > len(vocab) // 10
            bad = [i for i, t in enumerate(vocab) if i in self._tok.all_special_ids or t.startswith("##")
                   or (sp and not t.startswith("\u2581")) or not _TOKEN_OK.match(t.lstrip("Ġ▁"))]
            self._bad = torch.tensor(bad, dtype=torch.long)
        return self._model, self._tok

    def _mask(self, text: str, rng: Stream):
        ws = text.split()
        cands = [i for i, w in enumerate(ws) if w.lower() not in self.keep and _TOKEN_OK.match(w)]
        if not cands:
            return None, ws
        k = max(1, round(self.p * len(cands)))
        pos = sorted(rng.sample(cands, min(k, len(cands))))
        return pos, ws

    def __call__(self, texts: list[str]) -> list[list[str]]:
        if isinstance(texts, str):
            raise TypeError("an augmenter takes a list of texts; wrap a single text in a list")
        model, tok = self.load()
        jobs = []  # (text index, variant index, positions, words, rng)
        out = [[t] * self.n for t in texts]
        for i, t in enumerate(texts):
            if not t.strip():
                continue
            rng = self.rng(t)
            for v in range(self.n):
                pos, ws = self._mask(t, rng)
                if pos:
                    jobs.append((i, v, pos, ws, rng))
        order = sorted(range(len(jobs)), key=lambda j: -len(jobs[j][3]))
        for s in range(0, len(order), self.batch_size):
            chunk = [jobs[j] for j in order[s: s + self.batch_size]]
            masked = [" ".join(tok.mask_token if k in set(pos) else w for k, w in enumerate(ws))
                      for _, _, pos, ws, _ in chunk]
            enc = tok(masked, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
            is_mask = enc["input_ids"] == tok.mask_token_id  # (B, T)
            picks = self._candidates(self._mask_logits(model, enc, is_mask))  # per mask: (ids, probs)
            row = 0
            for b, (i, v, pos, ws, rng) in enumerate(chunk):
                new = list(ws)
                for p_word in pos[: int(is_mask[b].sum())]:  # masks cut off by truncation keep their word
                    ids, probs = picks[row]
                    new[p_word] = self._word(rng.choices(ids, probs)[0], tok)
                    row += 1
                out[i][v] = " ".join(new)
        return out

    def _candidates(self, logits) -> list:
        """(M, V) logits -> per mask the top-k ids and their probabilities under the full softmax, cut to the
        nucleus when top_p < 1; one batched top-k for all masks."""
        import torch

        k = min(self.top_k, logits.shape[-1])
        top, ids = logits.topk(k, dim=-1)
        probs = torch.exp(top - torch.logsumexp(logits, -1, keepdim=True)).double().cpu().tolist()
        out = []
        for p, i in zip(probs, ids.cpu().tolist()):
            if self.top_p < 1.0:  # nucleus: the smallest prefix whose mass reaches top_p
                cum, cut = 0.0, len(p)
                for j, q in enumerate(p):
                    cum += q
                    if cum >= self.top_p:
                        cut = j + 1
                        break
                p, i = p[:cut], i[:cut]
            out.append((i, p))
        return out

    def _word(self, token_id: int, tok) -> str:
        w = self._words.get(token_id)
        if w is None:
            w = self._words[token_id] = tok.convert_tokens_to_string([tok.convert_ids_to_tokens(token_id)]).strip()
        return w

    def _mask_logits(self, model, enc, is_mask):
        """Vocabulary logits at the masked positions only. The LM head over every position costs about as much as
        the encoder itself (T x V x H), so the encoder runs alone and the head sees just the masks."""
        import torch

        enc = {k: v.to(model.device) for k, v in enc.items()}
        with torch.inference_mode():
            base = getattr(model, model.base_model_prefix, None)
            head = next((getattr(model, n) for n in ("cls", "lm_head", "vocab_projector", "predictions")
                         if hasattr(model, n)), None)
            if base is not None and head is not None:
                h = base(**enc).last_hidden_state  # (B, T, H)
                logits = head(h[is_mask.to(h.device)]).float()  # (M, V)
            else:  # unknown head layout: full forward
                logits = model(**enc).logits[is_mask.to(model.device)].float()
            logits[:, self._bad.to(logits.device)] = -math.inf
        return logits
