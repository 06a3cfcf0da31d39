"""LP-FT head initialisation (Kumar et al., ICLR 2022), used by the loop when train.lp_init is set."""
from __future__ import annotations

import numpy as np
import torch

from .batching import collate, lengths


def linear_probe_init(model, enc, pad, batch_size) -> None:
    """LP-FT (Kumar et al., ICLR 2022): set the head to a logistic regression fitted on the frozen encoder's pooled
    features of the training set, so fine-tuning starts from a good head and distorts the features less."""
    from sklearn.linear_model import LogisticRegression

    model.eval()
    device = next(model.parameters()).device
    order = np.argsort(-lengths(enc), kind="stable")
    feats = torch.zeros(len(enc), model.head.in_features)
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            idx = order[s: s + batch_size]
            b = collate(enc, idx, pad)
            feats[idx] = model.features(b["input_ids"].to(device), b["attention_mask"].to(device)).float().cpu()
    y = np.array([e["label"] for e in enc])
    lr = LogisticRegression(max_iter=2000).fit(feats.numpy(), y)
    coef, icpt = torch.tensor(lr.coef_, dtype=torch.float32), torch.tensor(lr.intercept_, dtype=torch.float32)
    if coef.shape[0] == 1:  # binary: sklearn keeps one row; softmax over [-z/2, z/2] gives the same probabilities
        coef, icpt = torch.cat([-coef / 2, coef / 2]), torch.cat([-icpt / 2, icpt / 2])
    W = torch.zeros_like(model.head.weight)
    bias = torch.zeros_like(model.head.bias)
    W[torch.as_tensor(lr.classes_)] = coef
    bias[torch.as_tensor(lr.classes_)] = icpt
    with torch.no_grad():
        model.head.weight.copy_(W)
        model.head.bias.copy_(bias)
    model.train()
