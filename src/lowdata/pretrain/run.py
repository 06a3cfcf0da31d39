"""`lowdata pretrain`: continued or from-scratch MLM (+ NSP/SOP) pretraining through the one training loop.

    from lowdata.config import PretrainConfig, load_config
    from lowdata.pretrain import pretrain
    metrics = pretrain(load_config("configs/pretrain-sst2-mr.yaml", cls=PretrainConfig))

Output dir: config.yaml, metrics.json (held-out MLM loss and perplexity before and after, tokens/s, corpus counts),
data/ (packed corpus, reused by a rerun), model/ (a Hugging Face masked-LM directory: AutoModel loads the encoder
for `lowdata train` and SSL, AutoModelForMaskedLM the whole thing for MLM-refill augmentation), checkpoint/ (resume).
A model saved without an MLM head (all-MiniLM-L6-v2) gets a fresh one from transformers: decoder tied to the word
embeddings (tie_word_embeddings), transform layer newly initialised.
"""
from __future__ import annotations

import math
import os
import shutil
import time
import warnings

import torch

from ..config import ConfigError, to_dict

REPEAT_WARN = 4.0  # Muennighoff et al. 2023 (Scaling Data-Constrained LMs): repeated data loses value past ~4 epochs


def load_model(pc, tok):
    """(model, note): continued from pc.model.name, or a fresh BERT of the configured size."""
    from transformers import AutoConfig, AutoModelForMaskedLM, BertConfig, BertForMaskedLM, BertForPreTraining
    from transformers.utils import logging as hf_logging

    from ..backbone import check_model

    hf_logging.set_verbosity_error()  # the load report would list the new head; `note` says it in one line
    hf_logging.disable_progress_bar()

    pair = pc.objective.sentence is not None
    if pc.model.name:
        path = check_model(pc.model.name)
        mcfg = AutoConfig.from_pretrained(path, trust_remote_code=False)
        if pair and mcfg.model_type != "bert":
            raise ConfigError(f"objective.sentence={pc.objective.sentence} needs a BERT model (has a pooler and a "
                              f"sentence head); {pc.model.name} is {mcfg.model_type}")
        cls = BertForPreTraining if pair else AutoModelForMaskedLM
        model, info = cls.from_pretrained(path, output_loading_info=True)
        model = model.float()  # float32 master weights even from a half-precision checkpoint (see load_encoder)
        fresh = sorted({k.split(".")[0] + "." + k.split(".")[1] if "." in k else k for k in info["missing_keys"]})
        note = f"continued from {pc.model.name}" + (f"; newly initialised: {', '.join(fresh)}" if fresh else "")
        return model, note
    inter = pc.model.intermediate or 4 * pc.model.hidden
    if pc.model.hidden % pc.model.heads:
        raise ConfigError(f"model.hidden={pc.model.hidden} must be divisible by model.heads={pc.model.heads}")
    mcfg = BertConfig(vocab_size=len(tok), hidden_size=pc.model.hidden, num_hidden_layers=pc.model.layers,
                      num_attention_heads=pc.model.heads, intermediate_size=inter,
                      max_position_embeddings=max(512, pc.model.max_length), pad_token_id=tok.pad_token_id)
    model = (BertForPreTraining if pair else BertForMaskedLM)(mcfg)
    n = sum(p.numel() for p in model.parameters())
    return model, f"from scratch: {pc.model.layers} layers, hidden {pc.model.hidden}, {n / 1e6:.1f}M parameters"


def load_tokenizer(pc, out: str):
    """-> (tokenizer, save): save=True when it is new (trained or read from a vocab) and belongs in out/tokenizer.
    Writes nothing itself, so it can run before the output directory is started."""
    from transformers import AutoTokenizer

    from ..backbone import check_model
    from .corpus import iter_documents
    from .tokenizer import from_vocab, train_wordpiece

    if pc.model.name:
        if pc.model.tokenizer:
            raise ConfigError("model.tokenizer is for pretraining from scratch (model.name: null); continued "
                              "pretraining keeps the model's own tokenizer")
        return AutoTokenizer.from_pretrained(check_model(pc.model.name)), False
    if not pc.model.tokenizer:
        raise ConfigError("from scratch (model.name: null) needs model.tokenizer: a vocab.txt or 'train'")
    saved = os.path.join(out, "tokenizer")
    if os.path.isdir(saved):  # a resumed run reuses the tokenizer it trained
        return AutoTokenizer.from_pretrained(saved), False
    if pc.model.tokenizer == "train":
        texts = (" ".join(d) for _, d in iter_documents(pc.corpus))
        tok = train_wordpiece(texts, vocab_size=pc.model.vocab_size, lowercase=pc.model.lowercase)
    else:
        try:  # a vocab file, or a folder holding one *vocab*.txt (configs/pretrain-zh-small.yaml names a folder)
            tok = from_vocab(pc.model.tokenizer, lowercase=pc.model.lowercase)
        except FileNotFoundError:
            raise ConfigError(f"model.tokenizer: {pc.model.tokenizer}: no such vocab file (expected a vocab.txt, "
                              f"one WordPiece per line, a folder holding one, or 'train')") from None
        except ValueError as e:  # read, but not a BERT vocabulary (no [CLS], [SEP], [MASK] or [PAD])
            raise ConfigError(f"model.tokenizer: {pc.model.tokenizer}: {e}") from None
    return tok, True


def pretrain(pc, resume: bool = False, overwrite: bool = False, allow_changes: bool = False) -> dict:
    """Pretrain per `pc`; the tokenizer and model load before anything is written to pc.output_dir."""
    from .. import runs
    from ..config import validate

    tc, out = pc.train, pc.output_dir
    validate(pc)
    runs.check(out, pc, resume=resume, overwrite=overwrite, allow_changes=allow_changes)
    for p in pc.corpus.paths:
        if not str(p).startswith("hf:") and not os.path.exists(p):
            from ..data import DataError

            raise DataError("corpus file not found", str(p))
    if not pc.corpus.paths:
        raise ConfigError("corpus.paths: expected at least one text file, .jsonl file or hf:<dataset>")
    torch.manual_seed(tc.seed)
    tok, new_tok = load_tokenizer(pc, out)
    model, note = load_model(pc, tok)
    with runs.start(out, pc, resume=resume, overwrite=overwrite, allow_changes=allow_changes) as run_dir:
        if new_tok:
            tok.save_pretrained(os.path.join(out, "tokenizer"))
        return _pretrain(pc, run_dir.checkpoint, tok, model, note, resume)


def _pretrain(pc, ckdir, tok, model, note, resume) -> dict:
    from ..runs import replace_dir, write_json
    from ..loop import accelerator, fit
    from .corpus import Packed, build
    from .mlm import collate_packed, heldout_loss, mask_tokens, mlm_loss

    tc, out = pc.train, pc.output_dir
    ob = pc.objective
    meta = build(pc, tok, os.path.join(out, "data"), progress=tc.progress)
    train, held = Packed(os.path.join(out, "data", "train")), Packed(os.path.join(out, "data", "heldout"))
    if pc.model.freeze_encoder:  # the tied decoder weight is the word embeddings: frozen too; transform + bias train
        for prm in getattr(model, model.base_model_prefix).parameters():
            prm.requires_grad = False
        note += "; encoder frozen (MLM head only)"
    print(f"pretrain: {note}; corpus {meta['documents']} documents ({meta['duplicates']} duplicates dropped), "
          f"{meta['train_tokens']} training tokens in {len(train)} sequences, {len(held)} held out", flush=True)

    lens = train.lengths()
    per_epoch = math.ceil(len(train) / tc.batch_size)
    total = tc.max_steps or tc.epochs * per_epoch
    repeats = total / per_epoch
    if repeats > REPEAT_WARN:
        warnings.warn(f"the corpus is repeated {repeats:.1f} times ({total} steps x batch {tc.batch_size} over "
                      f"{len(train)} sequences); repeated data loses value quickly after about 4 epochs "
                      f"(Muennighoff et al. 2023): add unlabeled text or lower train.epochs/max_steps", stacklevel=2)
    acc = accelerator(tc)
    margs = {"mask_id": tok.mask_token_id, "vocab_size": len(tok), "p": ob.mlm_probability,
             "whole_word": ob.whole_word, "mask_replace": ob.mask_replace, "random_replace": ob.random_replace}
    pad = tok.pad_token_id
    seen = {"tokens": 0}

    def make_batch(idx, step):
        g = torch.Generator().manual_seed(tc.seed * 1_000_003 + step)
        seen["tokens"] += int(lens[idx].sum())
        return mask_tokens(collate_packed(train, idx, pad), generator=g, **margs)

    limit = pc.corpus.max_heldout

    def evaluate(m):
        r = heldout_loss(m, held, pad, margs, tc.eval_batch_size, acc.device, limit=limit)
        print(f"  held-out MLM loss {r['mlm_loss']:.4f}, perplexity {r['perplexity']:.2f}", flush=True)
        return -r["mlm_loss"]

    before = heldout_loss(model.to(acc.device), held, pad, margs, tc.eval_batch_size, acc.device, limit=limit) \
        if len(held) else None
    t0 = time.time()
    raw, state = fit(tc, out, model, train, acc, pad=pad, lens=lens, make_batch=make_batch, loss=mlm_loss,
                     evaluate=evaluate if len(held) else None, metric="neg_mlm_loss", resume=resume,
                     log_config=to_dict(pc))
    seconds = time.time() - t0
    after = heldout_loss(raw, held, pad, margs, tc.eval_batch_size, acc.device, limit=limit) if len(held) else None
    replace_dir(os.path.join(out, "model"), lambda d: (raw.save_pretrained(d), tok.save_pretrained(d)))  # atomic
    metrics = {"model": note, "corpus": {k: v for k, v in meta.items() if k != "key"}, "steps": state["step"],
               "epochs_over_corpus": round(state["step"] / per_epoch, 2),
               "seconds": round(seconds, 1), "tokens_per_second": round(seen["tokens"] / max(seconds, 1e-9), 1),
               "heldout_before": before, "heldout_after": after, "history": state["history"],
               "best_step": state["best_step"]}
    write_json(os.path.join(out, "metrics.json"), metrics, indent=1)  # last: it marks the run finished
    shutil.rmtree(ckdir, ignore_errors=True)
    return metrics
