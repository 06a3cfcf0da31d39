"""Metric loggers for the training loop: TensorBoard by default, MLflow / W&B when installed (`report_to`)."""
from __future__ import annotations

import os


class Loggers:
    def __init__(self, out: str, report_to, cfg: dict):
        self.tb = self.mlflow = self.wandb = None
        names = [report_to] if isinstance(report_to, str) else list(report_to or [])
        if "tensorboard" in names:
            from torch.utils.tensorboard import SummaryWriter
            self.tb = SummaryWriter(os.path.join(out, "tb"))
        if "mlflow" in names:
            try:
                import mlflow
                self.mlflow = mlflow
                mlflow.start_run()
            except ImportError:
                print("report_to: mlflow is not installed; skipping it")
        if "wandb" in names:
            try:
                import wandb
                self.wandb = wandb.init(config=cfg)
            except ImportError:
                print("report_to: wandb is not installed; skipping it")

    def log(self, logs: dict, step: int):
        for k, v in logs.items():
            if self.tb:
                self.tb.add_scalar(k, v, step)
            if self.mlflow:
                self.mlflow.log_metric(k.replace("/", "_"), v, step=step)
        if self.wandb:
            self.wandb.log(logs, step=step)

    def close(self):
        if self.tb:
            self.tb.close()
        if self.mlflow:
            self.mlflow.end_run()
        if self.wandb:
            self.wandb.finish()
