"""Multi-view training: a second view of every labeled example and a consistency loss between the views.

    mv = MultiView(tokenizer, view=Reverse(), weight=1.0, ce_weight=1.0)
    run(cfg, ssl=mv)    # plugs into the loop's `ssl=` argument; it needs no unlabeled data

For each labeled batch the texts are decoded from the token ids, the view augmenter makes the second view, and
loss = ce_weight * CE(view logits, labels) + weight * KL(p_original || p_view), with p_original detached (the
original view acts as the target, as in UDA's consistency term). Classification only.
"""
from __future__ import annotations

import torch.nn.functional as F


class MultiView:
    uses_unlabeled = False
    mu = 1

    def __init__(self, tokenizer, view, weight: float = 1.0, ce_weight: float = 1.0, max_length: int = 128):
        self.tok, self.view, self.max_length = tokenizer, view, max_length
        self.weight, self.ce_weight = weight, ce_weight

    def loss(self, model, batch, unlabeled, step):
        from ..ssl.masks import reencode

        ids, mask = reencode(self.tok, batch["input_ids"], self.view, self.max_length)
        logits_v = model(ids, mask).float()  # (B, C)
        logits_o = model(batch["input_ids"], batch["attention_mask"]).float().detach()
        kl = F.kl_div(F.log_softmax(logits_v, -1), F.softmax(logits_o, -1), reduction="batchmean")
        ce = F.cross_entropy(logits_v, batch["labels"])
        return self.ce_weight * ce + self.weight * kl, {"multiview/kl": kl.item(), "multiview/ce": ce.item()}
