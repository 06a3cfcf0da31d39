"""One train config -> one trained model, whatever the config asks for.

    from lowdata.pipeline import train_config
    metrics = train_config(load_config("configs/agnews-10shot.yaml", ["ssl.method=self_training"]))

Continued pretraining first when the `pretrain:` section is on (pretrain/fusion.py), then either self-training rounds
(`ssl.method: self_training`, ssl/pseudo_label.py) or the loop itself (train.run, which also covers the in-loop SSL
methods and the frozen-encoder ones). `lowdata train` and every cell of `lowdata curve` go through here, so a study
method can be any train config.
"""
from __future__ import annotations


def train_config(cfg, splits: dict | None = None, *, resume: bool = False, overwrite: bool = False,
                 allow_changes: bool = False) -> dict:
    from . import runs
    from .backbone import check_model
    from .config import validate
    from .data.splits import load_splits
    from .pretrain import fusion
    from .train import data_inputs, run

    validate(cfg)
    if fusion.enabled(cfg) or cfg.ssl.method == "self_training":
        check_model(cfg.model.name)
        runs.check_dir(cfg.output_dir)
        runs.check_inputs(cfg.output_dir, data_inputs(cfg))
        splits = splits or load_splits(cfg.data, cfg.train.seed)
        cfg = fusion.adapt(cfg, splits, overwrite=overwrite, allow_changes=allow_changes)
    if cfg.ssl.method == "self_training":
        from .ssl.pseudo_label import self_train

        sc = cfg.ssl
        with runs.RunDir(cfg.output_dir, runs.lock(cfg.output_dir)):  # one process per self-training run
            return self_train(cfg, splits, rounds=sc.rounds, threshold=0.9 if sc.threshold is None else sc.threshold,
                              balance=sc.balance, max_per_class=sc.max_per_class, seed_graph=sc.seed_graph,
                              portion=sc.portion, portion_step=sc.portion_step, graph_ensemble=sc.graph_ensemble,
                              graph_refresh=sc.graph_refresh, graph_predict=sc.graph_predict,
                              select_round=sc.select_round, resume=resume, overwrite=overwrite,
                              allow_changes=allow_changes)
    return run(cfg, splits, resume=resume, overwrite=overwrite, allow_changes=allow_changes)
