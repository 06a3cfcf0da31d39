"""Fusion: self-supervised, then supervised (and semi-supervised) training, as one method.

    lowdata train -c configs/sst2-16shot.yaml pretrain.epochs=4       # continued MLM on train + unlabeled, then
                                                                      # fine-tuning from the adapted encoder
    lowdata train -c configs/agnews-10shot-gcn-st.yaml pretrain.epochs=4   # ... then GCN-seeded self-training

The `pretrain:` section turns it on: lowdata.pretrain.fusion.adapt runs task-adaptive MLM (Gururangan et al. 2020)
on the run's own training and unlabeled texts (dev and test never), once, into <output_dir>/pretrain/, and the method
the rest of the config names (finetune, frozen, self_training, setfit) then starts from the adapted encoder.
"""
from __future__ import annotations


def run(cfg, splits: dict | None = None, *, resume: bool = False, overwrite: bool = False,
        allow_changes: bool = False) -> dict:
    from .. import runs
    from ..backbone import check_model
    from ..data.splits import load_splits
    from ..pretrain import fusion
    from . import METHODS, method_of

    check_model(cfg.model.name)
    runs.check_dir(cfg.output_dir)
    runs.check_inputs(cfg.output_dir, runs.data_inputs(cfg))
    splits = splits or load_splits(cfg.data, cfg.train.seed)
    adapted = fusion.adapt(cfg, splits, overwrite=overwrite, allow_changes=allow_changes)
    inner = method_of(adapted, after_pretrain=True)
    return METHODS.factory(inner)(adapted, splits, resume=resume, overwrite=overwrite, allow_changes=allow_changes)
