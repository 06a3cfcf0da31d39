"""FixMatch for text (Sohn et al., NeurIPS 2020, arXiv:2001.07685), with optional FlexMatch thresholds.

    ssl = FixMatch(tokenizer, weak=build("swap:alpha=0.05"), strong=build("eda:alpha=0.2,n=1"), threshold=0.95)
    run(cfg, splits, ssl=ssl)      # splits["unlabeled"]: the unlabeled pool

Per step: pseudo-label = argmax p(y | weak(u)) (no gradient), kept where max p >= threshold; unsupervised loss =
CE(f(strong(u)), pseudo-label) averaged over the whole unlabeled batch (masked entries count as 0), times
`weight` (lambda_u = 1 in the paper). Views come from lowdata's augmenters (the paper's RandAugment has no text
counterpart; weak = light word swaps, strong = EDA by default). `mu` = unlabeled/labeled batch ratio (paper: 7
for images; smaller defaults here because text encoders are costly on CPU).
FlexMatch (Zhang et al., NeurIPS 2021): `flex=True` scales the threshold per class by its learning status
sigma_c (count of confident predictions of c over the unlabeled pool seen so far), with the convex warp x/(2-x).
Two additions against confirmation bias with very few labels (both off by default, so the default is the paper):
`warmup` steps of supervised training before the unlabeled loss starts (the few-shot model is over-confident early:
on SST-2 with 16 labels per class nearly every unlabeled text passes 0.95 by step 50 while half are wrong), and
`align`: distribution alignment (ReMixMatch, Berthelot et al. 2020) of the weak-view probabilities toward a uniform
class prior, with p_model a running mean (momentum 0.999) of the model's predictions on unlabeled batches.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .masks import align as align_to, reencode


class FixMatch:
    uses_unlabeled = True

    def __init__(self, tokenizer, weak=None, strong=None, threshold: float = 0.95, weight: float = 1.0, mu: int = 2,
                 flex: bool = False, max_length: int = 128, seed: int = 0, warmup: int = 0, align: bool = False):
        from ..augment import build

        self.tok, self.threshold, self.weight, self.mu, self.flex = tokenizer, threshold, weight, mu, flex
        self.weak = weak if weak is not None else build("swap:alpha=0.05,n=1", seed=seed)
        self.strong = strong if strong is not None else build("eda:alpha=0.2,n=1", seed=seed)
        self.max_length = max_length
        self.counts = None  # FlexMatch: confident predictions per class (+ unused) so far
        self.warmup, self.align, self.p_model = warmup, align, None

    def thresholds(self, num_classes: int, device) -> torch.Tensor:
        if not self.flex or self.counts is None:
            return torch.full((num_classes,), self.threshold, device=device)
        sigma = self.counts[:num_classes] / self.counts.max().clamp_min(1)
        beta = sigma / (2 - sigma)  # convex warp from the FlexMatch paper
        return self.threshold * beta.to(device)

    def loss(self, model, batch, unlabeled, step):
        if step < self.warmup:  # supervised only for now (no forward passes on the unlabeled batch)
            return torch.zeros((), device=unlabeled["input_ids"].device), {"ssl/warmup": 1.0}
        ids_w, m_w = reencode(self.tok, unlabeled["input_ids"], self.weak, self.max_length)
        ids_s, m_s = reencode(self.tok, unlabeled["input_ids"], self.strong, self.max_length)
        with torch.no_grad():
            probs = torch.softmax(model(ids_w, m_w).float(), -1)  # (U, C)
            if self.align:
                mean = probs.mean(0)
                self.p_model = mean if self.p_model is None else 0.999 * self.p_model + 0.001 * mean
                probs = align_to(probs, torch.full_like(mean, 1.0 / len(mean)), self.p_model)
        conf, pseudo = probs.max(-1)
        C = probs.shape[-1]
        if self.flex:
            if self.counts is None:
                self.counts = torch.zeros(C + 1)
            sure = conf >= self.threshold
            self.counts.index_add_(0, pseudo[sure].cpu(), torch.ones(int(sure.sum())))
        mask = (conf >= self.thresholds(C, probs.device)[pseudo]).float()
        logits_s = model(ids_s, m_s).float()
        l_u = (F.cross_entropy(logits_s, pseudo, reduction="none") * mask).mean()
        logs = {"ssl/unsup_loss": l_u.item(), "ssl/mask_rate": mask.mean().item()}
        if "hidden_labels" in unlabeled:  # true labels known (benchmarks): pseudo-label accuracy over the kept ones
            kept = mask.bool()
            if kept.any():
                logs["ssl/pseudo_acc"] = (pseudo[kept] == unlabeled["hidden_labels"][kept]).float().mean().item()
        return self.weight * l_u, logs
