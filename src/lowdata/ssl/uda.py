"""UDA: Unsupervised Data Augmentation (Xie et al., NeurIPS 2020, arXiv:1904.12848).

    ssl = UDA(tokenizer, augmenter=build("eda:alpha=0.1,n=1"), T=0.4, threshold=0.8, tsa="linear", total_steps=1000)
    run(cfg, splits, ssl=ssl)

Unsupervised loss: KL(sharpen(p(y|u), T).detach() || p(y|aug(u))), over unlabeled examples whose max p(y|u) exceeds
`threshold` (paper for text: T=0.4, beta=0.8, lambda=1). Training-signal annealing (TSA): labeled examples whose
correct-class probability already exceeds eta_t are dropped from the supervised loss, which UDA therefore computes
itself (includes_supervised; the loop then skips its own).
Deviation: the paper's text augmentation is back-translation / TF-IDF word replacement; here any lowdata augmenter.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .masks import reencode, sharpen, tsa_threshold


class UDA:
    uses_unlabeled = True

    def __init__(self, tokenizer, augmenter=None, T: float = 0.4, threshold: float = 0.8, weight: float = 1.0,
                 tsa: str | None = "linear", total_steps: int = 1000, mu: int = 2, max_length: int = 128,
                 seed: int = 0):
        from ..augment import build

        self.tok, self.T, self.threshold, self.weight, self.tsa = tokenizer, T, threshold, weight, tsa
        self.aug = augmenter if augmenter is not None else build("eda:alpha=0.1,n=1", seed=seed)
        self.total, self.mu, self.max_length = total_steps, mu, max_length

    @property
    def includes_supervised(self) -> bool:
        return bool(self.tsa)

    def loss(self, model, batch, unlabeled, step):
        logs = {}
        sup = torch.zeros((), device=batch["input_ids"].device)
        if self.tsa:
            logits_l = model(batch["input_ids"], batch["attention_mask"]).float()  # (B, C)
            C = logits_l.shape[-1]
            eta = tsa_threshold(step, self.total, C, self.tsa)
            p_true = torch.softmax(logits_l, -1).gather(1, batch["labels"][:, None]).squeeze(1)
            keep = (p_true <= eta).float()  # too-confident examples leave the supervised loss
            ce = F.cross_entropy(logits_l, batch["labels"], reduction="none")
            sup = (ce * keep).sum() / keep.sum().clamp_min(1.0)
            logs.update({"ssl/sup_loss": sup.item(), "ssl/tsa_eta": eta, "ssl/tsa_kept": keep.mean().item()})
        with torch.no_grad():
            p_u = torch.softmax(model(unlabeled["input_ids"], unlabeled["attention_mask"]).float(), -1)  # (U, C)
        target = sharpen(p_u, self.T)
        mask = (p_u.max(-1).values > self.threshold).float()
        ids_a, m_a = reencode(self.tok, unlabeled["input_ids"], self.aug, self.max_length)
        logp_a = F.log_softmax(model(ids_a, m_a).float(), -1)
        kl = (target * (target.clamp_min(1e-12).log() - logp_a)).sum(-1)  # (U,)
        l_u = (kl * mask).sum() / mask.sum().clamp_min(1.0)
        logs.update({"ssl/unsup_loss": l_u.item(), "ssl/mask_rate": mask.mean().item()})
        if "hidden_labels" in unlabeled and mask.any():  # hidden labels known (benchmarks): logging only
            kept = mask.bool()
            logs["ssl/pseudo_acc"] = (p_u.argmax(-1)[kept] == unlabeled["hidden_labels"][kept]).float().mean().item()
        return sup + self.weight * l_u, logs
