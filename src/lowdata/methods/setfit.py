"""SetFit-style training (Tunstall et al. 2022, "Efficient Few-Shot Learning Without Prompts"): the encoder is tuned
on pairs of the labeled texts (contrastive stage, lowdata.contrastive: R positive and R negative pairs per text,
cosine-similarity loss), then the head is a logistic regression on the tuned features; no fine-tuning epochs after.

    lowdata train -c configs/sst2-16shot.yaml contrastive.pairs=20 train.epochs=0     # method_of -> setfit

A config names it with contrastive.pairs > 0 and no training epochs or steps (with epochs the same stages are
followed by fine-tuning, which is lowdata.methods.finetune). The stages themselves run inside finetune.run, so both
share the run directory, the checkpointing and the reports.
"""
from __future__ import annotations


def run(cfg, splits: dict | None = None, *, resume: bool = False, overwrite: bool = False,
        allow_changes: bool = False) -> dict:
    from ..errors import ConfigError
    from .finetune import run as finetune

    if cfg.contrastive.pairs < 1:
        raise ConfigError(f"contrastive.pairs: expected an integer >= 1 for SetFit (the paper: 20), got "
                          f"{cfg.contrastive.pairs}")
    if cfg.data.task != "classify":
        raise ConfigError("SetFit (contrastive.pairs) is for classification; data.task is ner")
    return finetune(cfg, splits, resume=resume, overwrite=overwrite, allow_changes=allow_changes)
