"""Methods: one file per way of training, each `run(cfg, splits=None, *, resume, overwrite, allow_changes) -> metrics`,
found through one registry (`METHODS`) that the CLI, studies, the bench and `lowdata ls` use.

    from lowdata.methods import METHODS, method_of, train
    metrics = train(load_config("configs/agnews-10shot.yaml", ["ssl.method=self_training"]))
    METHODS.names()                     # finetune, frozen, fusion, self_training, setfit

finetune: the loop over the encoder and a head (+ augmentation, in-loop SSL losses, adversarial training, LP-FT,
SetFit's contrastive stage before fine-tuning, as the config asks); frozen: no loop, a classifier over frozen
sentence vectors (frozen_lr, label_spreading, gcn); self_training: rounds of finetune runs on pseudo-labels; setfit:
the contrastive stage and a logistic-regression head, no fine-tuning epochs; fusion: continued MLM on the run's own
text first, then whichever of the others the rest of the config names; multilabel: data.task=multilabel (sigmoid
heads, per-label thresholds; fine-tuning, frozen_lr, SetFit-style or self-training inside). method_of reads the
choice off the config.
Every method writes the same run directory: config.yaml, metrics.json (last: the run is finished), report.md,
predictions.jsonl.
"""
from __future__ import annotations

from ..registry import Registry

METHODS = Registry("method", {
    "finetune": "lowdata.methods.finetune:run",
    "frozen": "lowdata.methods.frozen:run",
    "self_training": "lowdata.methods.self_training:run",
    "setfit": "lowdata.methods.setfit:run",
    "fusion": "lowdata.methods.fusion:run",
    "multilabel": "lowdata.methods.multilabel:run",
})
FROZEN = ("frozen_lr", "label_spreading", "gcn")  # the ssl.method names of lowdata.methods.frozen


def method_of(cfg, after_pretrain: bool = False) -> str:
    """The registered method a config asks for: fusion when its `pretrain:` section is on (then, after_pretrain,
    the method that follows), frozen / self_training by ssl.method, setfit for contrastive pairs with no training
    epochs or steps, finetune otherwise (in-loop SSL losses, augmentation and adversarial training included)."""
    if cfg.data.task == "multilabel":
        return "multilabel"
    if not after_pretrain and (cfg.pretrain.epochs or cfg.pretrain.max_steps):
        return "fusion"
    m = cfg.ssl.method
    if m in FROZEN:
        return "frozen"
    if m == "self_training":
        return "self_training"
    if cfg.contrastive.pairs and not m and not cfg.train.epochs and not cfg.train.max_steps:
        return "setfit"
    return "finetune"


def train(cfg, splits: dict | None = None, *, resume: bool = False, overwrite: bool = False,
          allow_changes: bool = False) -> dict:
    """One config -> one trained model (or classifier) and its run directory, whatever method the config asks for.
    `lowdata train` and every cell of `lowdata curve` go through here."""
    from ..config import validate

    import os

    from ..evaluate.card import write_card

    validate(cfg)
    result = METHODS.factory(method_of(cfg))(cfg, splits, resume=resume, overwrite=overwrite,
                                             allow_changes=allow_changes)
    write_card(cfg.output_dir)  # model/README.md, the model card (a run without model/ gets none)
    if isinstance(result, dict) and result.get("final_run"):
        write_card(os.path.join(cfg.output_dir, result["final_run"]))
    return result
