"""Self-supervised, then supervised (then SSL): the `pretrain:` section of a train config.

    cfg = load_config("configs/sst2-16shot-tapt.yaml")     # pretrain: {epochs: 4}, optionally ssl: {method: ...}
    cfg = adapt(cfg, splits)                                # continued MLM on train + unlabeled text
    run(cfg, splits)                                        # fine-tunes (and runs SSL) from the adapted encoder

Task-adaptive pretraining (Gururangan et al. 2020, "Don't Stop Pretraining"): masked-LM on the task's own unlabeled
text before fine-tuning. The corpus is the training texts plus the unlabeled split; dev and test texts are never
used. The adapted model lives in <output_dir>/pretrain/ and is reused by a rerun (or resumed if interrupted).
"""
from __future__ import annotations

import dataclasses
import os


def enabled(cfg) -> bool:
    return bool(cfg.pretrain.epochs or cfg.pretrain.max_steps)


def adapt(cfg, splits: dict, overwrite: bool = False, allow_changes: bool = False):
    """-> a copy of cfg whose model.name is the adapted encoder (cfg itself when the section is off)."""
    from ..config import CorpusConfig, ObjectiveConfig, PretrainConfig, PretrainModelConfig
    from .run import pretrain

    if not enabled(cfg):
        return cfg
    fc, out = cfg.pretrain, os.path.join(cfg.output_dir, "pretrain")
    texts = []
    for name in ("train", "unlabeled"):
        d = splits.get(name)
        if d is not None:
            texts += d.texts if d.task == "classify" else [" ".join(t) for t in d.tokens]
    os.makedirs(out, exist_ok=True)
    corpus = os.path.join(out, "corpus.txt")
    done = os.path.exists(os.path.join(out, "metrics.json"))
    if not done or overwrite:
        with open(corpus + ".tmp", "w", encoding="utf-8") as f:
            f.writelines(" ".join(t.split()) + "\n" for t in texts if t.strip())
        os.replace(corpus + ".tmp", corpus)
        tc = dataclasses.replace(cfg.train, epochs=fc.epochs or 1, max_steps=fc.max_steps, lr=fc.lr, head_lr=None,
                                 batch_size=fc.batch_size, patience=0, lp_init=False)
        pc = PretrainConfig(corpus=CorpusConfig(paths=[corpus], documents="line"),
                            model=PretrainModelConfig(name=cfg.model.name, max_length=fc.max_length),
                            objective=ObjectiveConfig(whole_word=fc.whole_word), train=tc, output_dir=out)
        resume = os.path.isdir(os.path.join(out, "checkpoint")) and not overwrite
        pretrain(pc, resume=resume, overwrite=overwrite or (done and not resume), allow_changes=allow_changes)
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, name=os.path.join(out, "model")))
