"""Generation with any Hugging Face causal LM or seq2seq model, or an OpenAI-compatible HTTP endpoint.

    Paraphrase(model="gpt2", n=2, seed=0)(["the film is great"])           # text -> n generated variants
    Paraphrase(endpoint="http://127.0.0.1:8000", model="my-llm")           # POST {endpoint}/v1/completions
    synthesize(["positive", "negative"], n_per_label=8, model="gpt2",       # label-conditioned new examples
               prompt="Write a {label} movie review:\n", examples={"positive": ["a joy"], ...})

Sampling: temperature / top_p; each text (or label) seeds its own generator from (seed, text), so output is
reproducible for a seed (on the same hardware). Prompts are `str.format` templates with {text} or {label}
(and {examples} for synthesize). Empty generations fall back to the input text, never to nothing silently.
"""
from __future__ import annotations

import hashlib
import json
import os
import urllib.request

from .base import Augmenter


def _int_seed(*parts) -> int:
    return int.from_bytes(hashlib.sha256("\x00".join(map(str, parts)).encode()).digest()[:4], "little")


class _Generator:
    def __init__(self, model: str, endpoint: str | None, max_new_tokens: int, temperature: float, top_p: float,
                 api_key_env: str, device: str | None):
        self.model_name, self.endpoint = model, endpoint
        self.max_new_tokens, self.temperature, self.top_p = max_new_tokens, temperature, top_p
        self.api_key_env, self.device = api_key_env, device
        self._model = self._tok = None

    def _load(self):
        if self._model is None:
            import torch
            from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer
            from transformers.utils import logging as hf_logging

            from ..backbone import from_pretrained

            hf_logging.set_verbosity_error()
            name = self.model_name
            cfg = from_pretrained(AutoConfig, name, "generator")
            self.seq2seq = bool(getattr(cfg, "is_encoder_decoder", False))
            cls = AutoModelForSeq2SeqLM if self.seq2seq else AutoModelForCausalLM
            dev = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            self._model, info = from_pretrained(cls, name, "generator", output_loading_info=True)
            self._model = self._model.to(dev).eval()
            from .mlm_refill import _warn_untrained

            _warn_untrained(self.model_name, info, "generation head (it is no causal or seq2seq LM)",
                            "its texts are noise; give a generative model (GPT-2, Qwen, T5, BART, ...)")
            self._tok = from_pretrained(AutoTokenizer, name, "generator")
        return self._model, self._tok

    def __call__(self, prompt: str, n: int, seed: int) -> list[str]:
        if self.endpoint:
            return self._http(prompt, n, seed)
        import torch

        model, tok = self._load()
        enc = tok(prompt, return_tensors="pt", add_special_tokens=self.seq2seq)
        enc.pop("token_type_ids", None)  # BERT-style tokenizers add them; generative models do not take them
        torch.manual_seed(seed)
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        with torch.inference_mode():
            out = model.generate(**{k: v.to(model.device) for k, v in enc.items()}, do_sample=True,
                                 temperature=self.temperature, top_p=self.top_p, max_new_tokens=self.max_new_tokens,
                                 num_return_sequences=n, pad_token_id=pad)
        if not self.seq2seq:
            out = out[:, enc["input_ids"].shape[1]:]
        return [t.strip().split("\n")[0].strip() for t in tok.batch_decode(out, skip_special_tokens=True)]

    def _http(self, prompt: str, n: int, seed: int) -> list[str]:
        body = {"model": self.model_name, "prompt": prompt, "n": n, "max_tokens": self.max_new_tokens,
                "temperature": self.temperature, "top_p": self.top_p, "seed": seed}
        req = urllib.request.Request(self.endpoint.rstrip("/") + "/v1/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        key = os.environ.get(self.api_key_env)
        if key:
            req.add_header("Authorization", f"Bearer {key}")
        with urllib.request.urlopen(req, timeout=120) as r:
            res = json.loads(r.read().decode())
        return [c.get("text", "").strip().split("\n")[0].strip() for c in res.get("choices", [])][:n]


class Paraphrase(Augmenter):
    name = "generate"

    def __init__(self, model: str = "gpt2", prompt: str = "Paraphrase: {text}\nParaphrase:", n: int = 1,
                 seed: int = 0, max_new_tokens: int = 48, temperature: float = 0.9, top_p: float = 0.95,
                 endpoint: str | None = None, api_key_env: str = "OPENAI_API_KEY", device: str | None = None):
        super().__init__(n, seed)
        if "{text}" not in prompt:
            raise ValueError("prompt must contain {text}")
        self.prompt = prompt
        self.gen = _Generator(model, endpoint, max_new_tokens, temperature, top_p, api_key_env, device)

    def augment(self, text, rng):
        outs = self.gen(self.prompt.format(text=text), self.n, _int_seed(self.seed, text))
        outs = [o if o else text for o in outs]
        return (outs + [text] * self.n)[: self.n]


def synthesize(labels: list[str], n_per_label: int, model: str = "gpt2",
               prompt: str = "{examples}Write a {label} example:\n", examples: dict | None = None, seed: int = 0,
               endpoint: str | None = None, **gen_kw):
    """Label-conditioned generation of new labeled examples -> TextData (empty generations are dropped and
    counted in the returned report)."""
    from ..data import TextData

    g = _Generator(model, endpoint, gen_kw.get("max_new_tokens", 48), gen_kw.get("temperature", 0.9),
                   gen_kw.get("top_p", 0.95), gen_kw.get("api_key_env", "OPENAI_API_KEY"), gen_kw.get("device"))
    texts, ys, empty = [], [], 0
    for lab in labels:
        shots = "".join(f"Example ({lab}): {e}\n" for e in (examples or {}).get(lab, []))
        for t in g(prompt.format(label=lab, examples=shots), n_per_label, _int_seed(seed, lab)):
            if t:
                texts.append(t)
                ys.append(lab)
            else:
                empty += 1
    return TextData(texts, ys, source=f"synthesize({model})") if texts else None, {"generated": len(texts),
                                                                                   "dropped_empty": empty}
