"""Adversarial training in embedding space: FGM, PGD, FreeLB, one object each, called by the training loop.

    adv = build_adversarial(AdversarialConfig(method="pgd", eps=1.0, alpha=0.3, steps=3))
    run(cfg, adversarial=adv)          # or an `adversarial:` section in a train config: `method: fgm`

The loop calls `adv.step(model, batch, loss_fn, backward)` after the clean backward and before clipping; the
parameter gradient then holds the clean and the adversarial terms. Every method perturbs the output of the
word-embedding layer (per-position token vectors, before position embeddings and LayerNorm), at real tokens only
(attention mask), through a forward hook on `get_input_embeddings()`; norms are per example over (T, H).

- FGM, Miyato, Dai & Goodfellow, "Adversarial Training Methods for Semi-Supervised Text Classification" (ICLR
  2017): r = eps * g / ||g||_2 with g the gradient of the loss w.r.t. the embedded sequence; the loss at x + r is
  added to the clean loss (weight 1). Deviation: the embeddings are not re-normalised as in the paper (BERT-style
  encoders have LayerNorm after the embeddings), so eps is in raw embedding units (default 1.0).
- PGD, Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks" (ICLR 2018): K ascent steps
  delta <- Proj_{||delta|| <= eps}(delta + alpha * g / ||g||), the gradient of the loss at x + delta_K added to the
  clean one. Deviation: Madry et al. train on the adversarial loss alone; keeping the clean term is the usual
  practice for text (Miyato et al.; the PGD baseline of FreeLB).
- FreeLB, Zhu et al., "FreeLB: Enhanced Adversarial Training for Natural Language Understanding" (ICLR 2020): K
  ascent steps whose parameter gradients are averaged, delta <- delta + alpha * g / ||g||_F, projected onto
  ||delta||_F <= max_norm when max_norm > 0. Deviation: delta_0 = 0 (the paper's adv-init-mag 0), so the clean
  backward the loop already did is step 0 and its gradient (with any SSL term in it) is scaled by 1/K.

The gradient at the clean input comes from the loop's own forward (the hook keeps the embedding output of the first
training forward after each step); when that is not available (the first step, or an SSL method whose first
forward was another batch) one extra pass computes it.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import contextmanager

import torch

METHODS = {  # name -> defaults from the papers / their common text settings
    "fgm": {"eps": 1.0},
    "pgd": {"eps": 1.0, "alpha": 0.3, "steps": 3},
    "freelb": {"alpha": 0.1, "steps": 3, "max_norm": 0.0},
}


def _norm(g):  # (B, T, H) -> (B, 1, 1), per-example L2 over the sequence
    return g.flatten(1).norm(dim=1).clamp_min(1e-12)[:, None, None]


def _project(delta, radius: float):
    if radius <= 0:
        return delta
    n = delta.flatten(1).norm(dim=1)[:, None, None]
    return delta * torch.clamp(radius / n.clamp_min(1e-12), max=1.0)


class EmbeddingAdversary(ABC):
    name = "adversary"

    def __init__(self, eps: float = 1.0, alpha: float = 0.3, steps: int = 1, max_norm: float = 0.0):
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.eps, self.alpha, self.steps, self.max_norm = eps, alpha, steps, max_norm
        self._module = self._delta = self._clean = None
        self._handle = None

    # --- the embedding hook ---
    def _hook(self, module, inputs, output):
        if self._delta is not None:
            return output + self._delta.to(output.dtype)
        if self._clean is None and torch.is_grad_enabled() and output.requires_grad:
            output.retain_grad()
            self._clean = output
        return None

    def _attach(self, model):
        raw = getattr(model, "module", model)
        enc = getattr(raw, "encoder", raw)
        module = enc.get_input_embeddings()
        if module is not self._module:
            if self._handle is not None:
                self._handle.remove()
            self._module, self._handle = module, module.register_forward_hook(self._hook)

    @contextmanager
    def _perturbed(self, delta):
        self._delta = delta
        try:
            yield
        finally:
            self._delta = None

    def _mask(self, batch):
        return batch["attention_mask"].unsqueeze(-1).float()  # (B, T, 1)

    def _clean_grad(self, model, batch, loss_fn):
        """g = d loss / d (embedding output) at the clean input, masked to real tokens. (B, T, H)"""
        c, self._clean = self._clean, None
        if c is not None and c.grad is not None and tuple(c.shape[:2]) == tuple(batch["input_ids"].shape):
            return c.grad.detach() * self._mask(batch)
        h = self._module.embedding_dim if hasattr(self._module, "embedding_dim") else self._module.weight.shape[1]
        delta = torch.zeros(*batch["input_ids"].shape, h, device=batch["input_ids"].device, requires_grad=True)
        with self._perturbed(delta):
            g, = torch.autograd.grad(loss_fn(model, batch), delta)
        return g.detach() * self._mask(batch)

    def step(self, model, batch, loss_fn, backward) -> dict:
        self._attach(model)
        try:
            return self.attack_step(model, batch, loss_fn, backward, self._clean_grad(model, batch, loss_fn))
        finally:
            self._clean = None

    @abstractmethod
    def attack_step(self, model, batch, loss_fn, backward, g) -> dict:
        """g: the loss gradient w.r.t. the clean embedding output (B, T, H), masked. Add the adversarial
        gradient to the parameters' .grad; return logs."""


class FGM(EmbeddingAdversary):
    name = "fgm"

    def attack_step(self, model, batch, loss_fn, backward, g):
        with self._perturbed(self.eps * g / _norm(g)):
            loss = loss_fn(model, batch)
        backward(loss)
        return {"adv/loss": loss.item()}


class PGD(EmbeddingAdversary):
    name = "pgd"

    def attack_step(self, model, batch, loss_fn, backward, g):
        mask = self._mask(batch)
        delta = torch.zeros_like(g)
        for t in range(self.steps):
            delta = _project(delta + self.alpha * g / _norm(g), self.eps) * mask
            if t < self.steps - 1:  # the gradient at the new point, without touching the parameter gradients
                leaf = delta.detach().requires_grad_()
                with self._perturbed(leaf):
                    g, = torch.autograd.grad(loss_fn(model, batch), leaf)
                g = g * mask
        with self._perturbed(delta.detach()):
            loss = loss_fn(model, batch)
        backward(loss)
        return {"adv/loss": loss.item(), "adv/delta_norm": delta.flatten(1).norm(dim=1).mean().item()}


class FreeLB(EmbeddingAdversary):
    name = "freelb"

    def attack_step(self, model, batch, loss_fn, backward, g):
        k, mask = self.steps, self._mask(batch)
        for p in model.parameters():  # step 0 (delta = 0) is the loop's clean backward: 1/K of the average
            if p.grad is not None:
                p.grad.mul_(1.0 / k)
        delta, losses = torch.zeros_like(g), []
        for _ in range(1, k):
            delta = _project(delta + self.alpha * g / _norm(g), self.max_norm) * mask
            leaf = delta.detach().requires_grad_()
            with self._perturbed(leaf):
                loss = loss_fn(model, batch)
            backward(loss / k)  # parameter gradients accumulate; leaf.grad is the next ascent direction
            g = leaf.grad.detach() * k * mask
            losses.append(loss.item())
        return {"adv/loss": sum(losses) / len(losses)} if losses else {}


def build_adversarial(cfg):
    """AdversarialConfig -> FGM | PGD | FreeLB (by registry name), or None when cfg.method is empty. Settings left
    unset take the method's defaults (METHODS)."""
    from ..registry import ADVERSARIAL

    if not cfg.method:
        return None
    kw = dict(METHODS.get(cfg.method, {}))
    for key in kw:
        if getattr(cfg, key, None) is not None:
            kw[key] = getattr(cfg, key)
    return ADVERSARIAL.get(cfg.method, **kw)
