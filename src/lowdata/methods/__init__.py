"""Methods: one file per way of training, each `run(cfg, splits=None, *, resume, overwrite, allow_changes) -> metrics`,
found through one registry (`METHODS`) that the CLI, studies, the bench and `lowdata ls` use.

    from lowdata.methods import METHODS, method_of, train
    metrics = train(load_config("configs/agnews-10shot.yaml", ["ssl.method=self_training"]))
    METHODS.names()                     # finetune, frozen, self_training

finetune: the loop over the encoder and a head (+ augmentation, in-loop SSL losses, adversarial training, SetFit's
contrastive stage, LP-FT, as the config asks); frozen: no loop, a classifier over frozen sentence vectors (frozen_lr,
label_spreading, gcn); self_training: rounds of finetune runs on pseudo-labels. A config names its method through
ssl.method (method_of). Continued pretraining first when the `pretrain:` section is on (lowdata.pretrain.fusion).
Every method writes the same run directory: config.yaml, metrics.json (last: the run is finished), report.md,
predictions.jsonl.
"""
from __future__ import annotations

from ..registry import Registry

METHODS = Registry("method", {
    "finetune": "lowdata.methods.finetune:run",
    "frozen": "lowdata.methods.frozen:run",
    "self_training": "lowdata.methods.self_training:run",
})
FROZEN = ("frozen_lr", "label_spreading", "gcn")  # = lowdata.methods.frozen.FROZEN (kept here: no import needed)


def method_of(cfg) -> str:
    """The registered method a config asks for."""
    m = cfg.ssl.method
    return "frozen" if m in FROZEN else "self_training" if m == "self_training" else "finetune"


def train(cfg, splits: dict | None = None, *, resume: bool = False, overwrite: bool = False,
          allow_changes: bool = False) -> dict:
    """One config -> one trained model (or classifier) and its run directory, whatever method the config asks for.
    `lowdata train` and every cell of `lowdata curve` go through here."""
    from .. import runs
    from ..backbone import check_model
    from ..config import validate
    from ..data.splits import load_splits
    from ..pretrain import fusion

    validate(cfg)
    name = method_of(cfg)
    if fusion.enabled(cfg) or name == "self_training":
        check_model(cfg.model.name)
        runs.check_dir(cfg.output_dir)
        runs.check_inputs(cfg.output_dir, runs.data_inputs(cfg))
        splits = splits or load_splits(cfg.data, cfg.train.seed)
        cfg = fusion.adapt(cfg, splits, overwrite=overwrite, allow_changes=allow_changes)
    return METHODS.factory(name)(cfg, splits, resume=resume, overwrite=overwrite, allow_changes=allow_changes)
