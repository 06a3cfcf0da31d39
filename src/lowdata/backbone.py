"""Backbones: any Hugging Face encoder by name or path, the packaged offline default, a tiny random BERT.

    from lowdata.backbone import load_encoder, TaskModel
    enc, tok = load_encoder("minilm")          # alias of the packaged all-MiniLM-L6-v2
    model = TaskModel(enc, num_labels=2, task="classify", pooling="mean")
    model.save("out/model", tok, labels=["neg", "pos"]);  model, tok, meta = TaskModel.load("out/model")

A saved model directory is Hugging Face-native: `pipeline("text-classification" | "token-classification",
model=DIR)` and AutoModelForSequenceClassification / AutoModelForTokenClassification load it (classifiers through
lowdata.hf: `import lowdata.hf` or trust_remote_code=True), plus `lowdata.json` (task, label names, pooling,
max_length) and a model card (README.md, lowdata.evaluate.card).
"""
from __future__ import annotations

import json
import os

import torch
from torch import nn

from .errors import ModelError

def _aliases() -> dict:
    from .packaged import FULL_NAMES, PACKAGED

    return {**{a: a for a in PACKAGED}, **FULL_NAMES}


ALIASES = _aliases()  # alias or full name -> packaged alias (lowdata.packaged: minilm, mpnet, e5-small)
DEFAULT = "minilm"


def resolve(name: str) -> str:
    """Alias or local path or hub name -> something `from_pretrained` accepts. A packaged alias gives its folder
    (built into the cache on first use, see lowdata.packaged)."""
    from .packaged import model_path

    if not isinstance(name, (str, os.PathLike)) or not str(name).strip():
        raise ModelError(f"model.name: expected an alias ({', '.join(ALIASES)}), a local folder or a hub name, "
                         f"got {name!r}")
    alias = ALIASES.get(name)
    if alias is None:
        return str(name)
    try:
        return model_path(alias)
    except ModelError:
        if "/" in name and not os.environ.get("HF_HUB_OFFLINE") == "1":
            return name  # a full hub name without its package: the hub (needs network)
        raise


def check_model(name: str, key: str = "model.name") -> str:
    """-> the resolved path; ModelError unless it is a model folder or (online) a well-formed hub name."""
    path = resolve(name)
    looks_local = os.path.isabs(path) or path.startswith((".", "~")) or os.path.exists(path)
    if looks_local and not os.path.isdir(path):
        raise ModelError(f"{key}={name!r}: no such folder (expected a model folder with config.json, an alias: "
                         f"{', '.join(ALIASES)}, or a hub name)")
    if os.path.isdir(path) and not os.path.exists(os.path.join(path, "config.json")):
        raise ModelError(f"{key}={name!r}: {path} is not a Hugging Face model folder (no config.json)")
    return path


def load_encoder(name: str = DEFAULT):
    """(encoder, tokenizer) for a name, alias or local path. Never runs code from the model folder: remote code
    (`auto_map`) stays off, and weights load from safetensors or with torch's weights_only unpickler."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the load report lists the unused MiniLM pooler on every load
    hf_logging.disable_progress_bar()
    path = check_model(name)
    if _model_type(path) == "lowdata":  # a lowdata classifier folder: its fine-tuned encoder
        enc, _, tok = load_task_model(path, "classify")
        return enc, tok
    try:
        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        kw = {"add_pooling_layer": False} if _is_bert(path) else {}
        enc = AutoModel.from_pretrained(path, trust_remote_code=False, **kw)
    except (OSError, ValueError, KeyError) as e:
        raise load_error(name, path, e) from None
    # float32 master weights whatever the checkpoint stores: transformers 5 loads a float16/bf16 file as such, and
    # AdamW on half-precision weights loses small updates (mixed precision is autocast's job, on GPU)
    return enc.float(), tok


def load_error(name: str, path: str, e: Exception, key: str = "model.name") -> ModelError:
    """The one-line ModelError for a from_pretrained that failed (a missing hub name offline, a broken folder)."""
    reason = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
    offline = os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("TRANSFORMERS_OFFLINE") == "1"
    where = " (offline: only local folders and the packaged aliases load)" if offline and not os.path.isdir(path) \
        else ""
    return ModelError(f"{key}={name!r}: cannot load it{where}: {reason}")


def from_pretrained(loader, name: str, key: str = "model.name", **kw):
    """loader.from_pretrained (AutoTokenizer, AutoModelForCausalLM, ...) on a checked name, without remote code;
    a missing or unloadable model is a ModelError naming `key`, not a transformers traceback."""
    path = check_model(name, key)
    try:
        return loader.from_pretrained(path, trust_remote_code=False, **kw)
    except (OSError, ValueError, KeyError) as e:
        raise load_error(name, path, e, key) from None


def _model_type(path: str) -> str | None:
    cfg = os.path.join(path, "config.json")
    if not os.path.exists(cfg):
        return None
    try:
        with open(cfg, encoding="utf-8") as f:
            d = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelError(f"{cfg}: not valid JSON ({e})") from None
    return d.get("model_type") if isinstance(d, dict) else None


def _is_bert(path: str) -> bool:
    return _model_type(path) == "bert"


class TaskModel(nn.Module):
    """Encoder + dropout + linear head. task="classify": pooled sentence vector (mean of tokens, or [CLS]);
    task="ner": one label per token. Mean pooling is the default because sentence encoders such as
    all-MiniLM-L6-v2 were trained with it, which matters most when labels are few."""

    def __init__(self, encoder, num_labels: int, task: str = "classify", pooling: str = "mean",
                 dropout: float = 0.1, normalize: bool = False):
        super().__init__()
        if task not in ("classify", "ner"):
            raise ValueError(f"unknown task {task!r} (expected 'classify' or 'ner')")
        if pooling not in ("mean", "cls"):
            raise ValueError(f"unknown pooling {pooling!r} (expected 'mean' or 'cls')")
        self.encoder, self.task, self.pooling = encoder, task, pooling
        self.normalize = normalize  # L2-normalise the pooled vector first (a logistic head fitted on frozen,
        # normalised sentence vectors: lowdata.methods.frozen's frozen_lr)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, num_labels)

    def features(self, input_ids, attention_mask):
        """Pooled sentence vectors (B, H) for classify, token vectors (B, T, H) for ner."""
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, H)
        if self.task == "ner":
            return h
        if self.pooling == "cls":
            v = h[:, 0]
        else:
            m = attention_mask.unsqueeze(-1).to(h.dtype)  # (B, T, 1)
            v = (h * m).sum(1) / m.sum(1).clamp(min=1)
        return torch.nn.functional.normalize(v, dim=-1) if self.normalize else v

    def forward(self, input_ids, attention_mask, **_):
        f = self.dropout(self.features(input_ids, attention_mask))
        if self.training or self.task != "classify" or torch.compiler.is_exporting():
            return self.head(f)  # (B, C) or (B, T, C); an exported graph keeps the plain Linear (Gemm)
        # eval: the head as a product and a sum over H, the same arithmetic for a row whatever the batch size (CPU
        # BLAS takes another kernel for 1 or an odd number of rows: a lone text's logits moved 4e-6 from the same
        # text's in a batch of 16); (B, C, H) is small for one vector per text. In float32, as a Linear accumulates
        return (f.float().unsqueeze(-2) * self.head.weight.float()).sum(-1) + self.head.bias.float()

    def save(self, path: str, tokenizer, labels: list[str], max_length: int, extra: dict | None = None) -> None:
        """Write a Hugging Face-native model folder atomically (filled beside `path`, then renamed into place).
        classify: config.json with model_type "lowdata" + auto_map, model.safetensors (this module's weights) and
        modeling_lowdata.py (lowdata.hf, verbatim); ner: the encoder's own XForTokenClassification. Both also hold
        the tokenizer (model_max_length = max_length) and lowdata.json (task, labels, pooling, max_length, and
        `extra`: multi-label models add multilabel, thresholds, at_least_one)."""
        from .runs import replace_dir

        def write(d):
            if self.task == "classify":
                self._save_classifier(d, labels, bool((extra or {}).get("multilabel")))
            else:
                self._save_tagger(d, labels)
            tokenizer.model_max_length = max_length  # pipeline(..., truncation=True) then cuts where lowdata does
            tokenizer.save_pretrained(d)
            meta = {"task": self.task, "labels": labels, "pooling": self.pooling, "max_length": max_length,
                    "format": 2}
            if self.normalize:
                meta["normalize"] = True
            meta.update(extra or {})
            with open(os.path.join(d, "lowdata.json"), "w", encoding="utf-8") as f:
                json.dump(meta, f, indent=2, ensure_ascii=False)

        replace_dir(path, write)

    def _save_classifier(self, d: str, labels: list[str], multilabel: bool = False) -> None:
        import shutil

        from safetensors.torch import save_file

        from . import hf

        enc_cfg = self.encoder.config.to_dict()
        for k in ("architectures", "id2label", "label2id", "auto_map", "_name_or_path", "transformers_version"):
            enc_cfg.pop(k, None)
        cfg = hf.LowdataConfig(encoder_config=enc_cfg, pooling=self.pooling, normalize=self.normalize,
                               classifier_dropout=self.dropout.p, id2label=dict(enumerate(labels)),
                               label2id={n: i for i, n in enumerate(labels)})
        cfg.architectures = ["LowdataForSequenceClassification"]
        if multilabel:  # pipeline() then applies a sigmoid per label, not a softmax
            cfg.problem_type = "multi_label_classification"
        cfg.auto_map = {"AutoConfig": "modeling_lowdata.LowdataConfig",
                        "AutoModelForSequenceClassification": "modeling_lowdata.LowdataForSequenceClassification"}
        cfg.save_pretrained(d)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()
                 if not k.startswith("encoder.pooler.")}  # an unused pooler (mpnet) is not part of the model
        save_file(state, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
        shutil.copyfile(hf.__file__, os.path.join(d, "modeling_lowdata.py"))

    def _save_tagger(self, d: str, labels: list[str]) -> None:
        import copy

        from transformers import AutoModelForTokenClassification
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Writing model shards"
        cfg = copy.deepcopy(self.encoder.config)
        cfg.id2label, cfg.label2id = dict(enumerate(labels)), {n: i for i, n in enumerate(labels)}
        cfg.architectures = None
        tagger = AutoModelForTokenClassification.from_config(cfg)
        body = tagger.base_model
        missing, unexpected = body.load_state_dict(self.encoder.state_dict(), strict=False)
        head = getattr(tagger, "classifier", None)
        if missing or any(not k.startswith("pooler.") for k in unexpected) or not isinstance(head, nn.Linear):
            raise ModelError(f"{type(tagger).__name__} does not take this encoder + linear head (missing "
                             f"{missing[:3]}, unexpected {unexpected[:3]})")
        head.load_state_dict(self.head.state_dict())
        tagger.save_pretrained(d)

    @classmethod
    def load(cls, path: str):
        """-> (model, tokenizer, meta) from a directory written by `save` (or by lowdata before the HF-native
        layout: encoder + head.safetensors)."""
        meta_path = os.path.join(path, "lowdata.json")
        if not os.path.exists(meta_path):
            raise ModelError(f"{path}: not a lowdata model directory (no lowdata.json; expected the model/ folder "
                             f"of a lowdata train run)")
        try:
            with open(meta_path, encoding="utf-8") as f:
                meta = json.load(f)
            ok = isinstance(meta, dict) and meta.get("task") in ("classify", "ner") and \
                meta.get("pooling") in ("mean", "cls") and isinstance(meta.get("labels"), list) and meta["labels"] \
                and isinstance(meta.get("max_length"), int)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ModelError(f"{meta_path}: not valid JSON ({e})") from None
        if not ok:
            raise ModelError(f"{meta_path}: expected task (classify|ner), pooling (mean|cls), labels (a list) and "
                             f"max_length (an integer)")
        if os.path.exists(os.path.join(path, "head.safetensors")):
            return cls._load_v1(path, meta)
        enc, head, tok = load_task_model(path, meta["task"])
        if head.out_features != len(meta["labels"]):
            raise ModelError(f"{path}: the head has {head.out_features} outputs but lowdata.json names "
                             f"{len(meta['labels'])} labels")
        model = cls(enc, len(meta["labels"]), meta["task"], meta["pooling"], normalize=meta.get("normalize") is True)
        model.head = head
        return model, tok, meta

    @classmethod
    def _load_v1(cls, path: str, meta: dict):
        from safetensors.torch import load_file

        enc, tok = load_encoder(path)
        model = cls(enc, len(meta["labels"]), meta["task"], meta["pooling"], normalize=meta.get("normalize") is True)
        try:
            model.head.load_state_dict(load_file(os.path.join(path, "head.safetensors")))
        except (OSError, RuntimeError) as e:
            raise ModelError(f"{path}/head.safetensors: cannot load the classifier head ({str(e)[:200]})") from None
        return model, tok, meta


def load_task_model(path: str, task: str):
    """(encoder, head, tokenizer) of an HF-native lowdata folder, loaded through transformers' Auto classes exactly
    as a user's pipeline() would (registered class, no remote code; weights from safetensors)."""
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from . import hf

    hf.register()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    auto = AutoModelForSequenceClassification if task == "classify" else AutoModelForTokenClassification
    try:
        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        m = auto.from_pretrained(path, trust_remote_code=False)
    except (OSError, ValueError, KeyError) as e:
        reason = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
        raise ModelError(f"{path}: cannot load the model ({reason})") from None
    m = m.float()
    if task == "classify":
        return m.encoder, m.head, tok
    return m.base_model, m.classifier, tok


def make_tiny(path: str, hidden: int = 32, layers: int = 2, heads: int = 2, seed: int = 0,
              head: str | None = None) -> str:
    """Write a tiny randomly initialised BERT (character-level WordPiece vocab) to `path`. For tests.
    head=None: a bare encoder; "mlm": BertForMaskedLM; "causal": a tiny GPT-2, "seq2seq": a tiny BART (same
    tokenizer)."""
    from transformers import BertConfig, BertModel

    from .pretrain.tokenizer import SPECIALS, from_vocab

    chars = [chr(c) for c in range(33, 127) if not chr(c).isupper()]
    words = "the a an and of to is in it that was for on with as this movie film good bad not".split()
    vocab = list(dict.fromkeys(SPECIALS + chars + ["##" + c for c in chars] + words))
    tok = from_vocab({w: i for i, w in enumerate(vocab)})
    torch.manual_seed(seed)
    if head == "seq2seq":
        from transformers import BartConfig, BartForConditionalGeneration

        cfg = BartConfig(vocab_size=len(vocab), d_model=hidden, encoder_layers=layers, decoder_layers=layers,
                         encoder_attention_heads=heads, decoder_attention_heads=heads, encoder_ffn_dim=hidden * 2,
                         decoder_ffn_dim=hidden * 2, max_position_embeddings=256, pad_token_id=0, bos_token_id=2,
                         eos_token_id=3, decoder_start_token_id=2, forced_eos_token_id=3)
        BartForConditionalGeneration(cfg).save_pretrained(path)
        tok.save_pretrained(path)
        return path
    if head == "causal":
        from transformers import GPT2Config, GPT2LMHeadModel

        cfg = GPT2Config(vocab_size=len(vocab), n_embd=hidden, n_layer=layers, n_head=heads, n_positions=256,
                         bos_token_id=2, eos_token_id=3, pad_token_id=0)
        GPT2LMHeadModel(cfg).save_pretrained(path)
        tok.save_pretrained(path)
        return path
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                     intermediate_size=hidden * 2, max_position_embeddings=512)
    if head == "mlm":
        from transformers import BertForMaskedLM

        BertForMaskedLM(cfg).save_pretrained(path)
    else:
        BertModel(cfg, add_pooling_layer=False).save_pretrained(path)
    tok.save_pretrained(path)
    return path
