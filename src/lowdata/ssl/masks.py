"""Small pure functions shared by the SSL methods.

    p = sharpen(probs, T=0.4)                     # UDA / MixMatch temperature sharpening
    m = confidence_mask(probs, threshold=0.95)    # FixMatch: 1 where max prob >= threshold
    p = align(probs, p_labeled, p_model_avg)      # ReMixMatch distribution alignment
    eta = tsa_threshold(step, total, K, "linear") # UDA training-signal annealing
"""
from __future__ import annotations

import math

import torch


def sharpen(probs: torch.Tensor, T: float) -> torch.Tensor:
    """p^(1/T), renormalised over the last dim (T < 1 sharpens)."""
    p = probs.clamp_min(1e-12) ** (1.0 / T)
    return p / p.sum(-1, keepdim=True)


def confidence_mask(probs: torch.Tensor, threshold: float) -> torch.Tensor:
    """(B,) float mask: 1 where the max class probability reaches the threshold."""
    return (probs.max(-1).values >= threshold).float()


def align(probs: torch.Tensor, p_target: torch.Tensor, p_model: torch.Tensor) -> torch.Tensor:
    """Distribution alignment (Berthelot et al. 2020, ReMixMatch): scale by target/model marginals, renormalise."""
    p = probs * (p_target / p_model.clamp_min(1e-12))
    return p / p.sum(-1, keepdim=True)


def tsa_threshold(step: int, total: int, num_classes: int, schedule: str = "linear") -> float:
    """UDA's training-signal annealing threshold eta_t, from 1/K at step 0 to 1 at the end."""
    t = min(1.0, step / max(1, total))
    if schedule == "linear":
        a = t
    elif schedule == "log":
        a = 1 - math.exp(-t * 5)
    elif schedule == "exp":
        a = math.exp((t - 1) * 5)
    else:
        raise ValueError(f"unknown TSA schedule {schedule!r} (valid: linear, log, exp)")
    return a * (1 - 1 / num_classes) + 1 / num_classes


def reencode(tokenizer, input_ids: torch.Tensor, augmenter, max_length: int = 128):
    """A new view of a batch: decode the ids to text, augment, tokenize again -> (input_ids, attention_mask)."""
    texts = tokenizer.batch_decode(input_ids, skip_special_tokens=True)
    views = [vs[0] if vs else t for t, vs in zip(texts, augmenter(texts))]
    enc = tokenizer(views, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    return enc["input_ids"].to(input_ids.device), enc["attention_mask"].to(input_ids.device)
