"""Knowledge distillation from a trained teacher over the unlabeled pool (Hinton, Vinyals & Dean 2015, "Distilling
the Knowledge in a Neural Network"), the step the SetFit paper (Tunstall et al. 2022, section 6) takes to put a
large few-shot teacher into a small fast student.

    lowdata train -c cfg.yaml model.name=mpnet contrastive.pairs=20 train.epochs=0 output_dir=runs/teacher
    lowdata train -c cfg.yaml model.name=minilm ssl.method=distill ssl.teacher=runs/teacher/model \\
        data.unlabeled=pool.txt train.max_steps=400

The student is fine-tuned on its labeled batch (the loop's cross-entropy) plus, each step, ssl.mu x batch_size pool
texts: T^2 KL(p_teacher(T) || p_student(T)) with both softmaxes at temperature ssl.T (default 1), weighted by
ssl.weight. The teacher is any lowdata classifier folder over the same labels (another backbone and tokenizer are
fine: its probabilities are computed once, on the pool's raw texts, before training, and travel with the pool's
encodings). That pass runs in float32, or under bf16 autocast with model.embed_bf16 where the hardware runs bf16
natively (lowdata.hardware.bf16_fast; bench/teacher_pass.py times both). Only the teacher's labels and the pool's
texts are used: the teacher must have been trained on the same labels (no others), so a run stays within its label
budget.

Deviation from SetFit's distillation: SetFit regresses the student's pair cosine similarities onto the teacher's and
then fits the student's head on the teacher's predicted labels; here the student learns the teacher's class
probabilities directly (Hinton's soft targets), through the one training loop.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


class Distill:
    uses_unlabeled = True

    def __init__(self, teacher: str, T: float = 1.0, weight: float = 1.0, mu: int = 2, batch_size: int = 64,
                 bf16: bool = False):
        from ..errors import ConfigError

        if not teacher:
            raise ConfigError("ssl.method=distill needs ssl.teacher: the model/ folder of a trained lowdata "
                              "classifier over the same labels")
        self.teacher, self.T, self.weight, self.mu = teacher, T, weight, mu
        self.batch_size, self.bf16 = batch_size, bf16

    def teacher_probs(self, texts: list[str], names: list[str]) -> np.ndarray:
        """(N, C) teacher class probabilities at temperature T over raw texts, columns in the order of `names` (the
        student's labels). Raises ConfigError when the teacher is not a classifier over exactly those labels."""
        from ..backbone import TaskModel
        from ..batching import encode, predict_logits
        from ..data import TextData
        from ..errors import ConfigError
        from ..hardware import bf16_fast

        model, tok, meta = TaskModel.load(self.teacher)
        if meta["task"] != "classify" or meta.get("multilabel"):
            raise ConfigError(f"ssl.teacher={self.teacher}: a single-label classifier is needed (it is "
                              f"{'multi-label' if meta.get('multilabel') else meta['task']})")
        if sorted(meta["labels"]) != sorted(names):
            raise ConfigError(f"ssl.teacher={self.teacher}: its labels {meta['labels']} are not this run's "
                              f"{list(names)}")
        device = "cuda" if torch.cuda.is_available() else "cpu"
        enc = encode(TextData(list(texts)), tok, None, meta["max_length"], warn=False)
        cast = (lambda: torch.autocast(device, dtype=torch.bfloat16)) if self.bf16 and bf16_fast(device) else None
        logits = predict_logits(model.to(device), enc, tok.pad_token_id, self.batch_size, device, autocast=cast,
                                max_length=meta["max_length"])
        logits = logits[:, [meta["labels"].index(n) for n in names]]
        return torch.softmax(logits.float() / self.T, -1).numpy()

    def prepare(self, texts: list[str], enc_u: list[dict], names: list[str]) -> None:
        """Attach the teacher's probabilities to the pool's encodings (collate turns them into batch["soft"])."""
        for e, p in zip(enc_u, self.teacher_probs(texts, names)):
            e["soft"] = p.tolist()

    def loss(self, model, batch, unlabeled, step):
        target = unlabeled["soft"]  # (U, C)
        logp = F.log_softmax(model(unlabeled["input_ids"], unlabeled["attention_mask"]).float() / self.T, -1)
        kl = (target * (target.clamp_min(1e-12).log() - logp)).sum(-1).mean()
        logs = {"ssl/kd_loss": kl.item()}
        if "hidden_labels" in unlabeled:  # hidden labels known (benchmarks): logging only
            logs["ssl/teacher_acc"] = (target.argmax(-1) == unlabeled["hidden_labels"]).float().mean().item()
        return self.weight * self.T ** 2 * kl, logs
