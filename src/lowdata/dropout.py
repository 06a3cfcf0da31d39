"""Faster dropout for CPU training: the same dropout, with its random masks drawn by numpy instead of torch.

    from lowdata.dropout import cpu_dropout
    with cpu_dropout(model):   # in the loop (train.fast_dropout, on by default); restored on exit
        ...train...

Why: on a 2-core CPU, torch's dropout (`bernoulli_`, one draw per element) took 9% of a MiniLM fine-tuning step
(profiled: 2.2 ms a call for ~300k elements, 20 calls a step), and attention dropout forces `scaled_dot_product_
attention` off its fused CPU kernel onto its math path, which multiplies one head's matrix at a time (10 ms a layer,
forward and backward, against 4 ms without dropout). numpy's PCG64 draws float32 uniforms ~3x faster, and the
attention below takes 5 ms. bench/train_speed.py: MiniLM training 1.12x (float32) / 1.21x (bf16) as fast as with
torch's dropout, end to end in the same run (session 38).

What changes: each `nn.Dropout` in the model is swapped for `Dropout` below, and a Hugging Face model whose attention
runs through transformers' attention interface with `sdpa` (BERT, XLM-R, E5, ...) is switched to the attention below
while training: softmax(q k^T * scaling + mask) with dropout, then @ v (`sdpa` itself whenever dropout is 0, i.e.
in eval mode). Models with their own attention code (MPNet) keep it; their attention dropout is an `nn.Dropout` and
is swapped like the others. Everything is restored on exit, so saved models and evaluation are untouched.

Faithful: an element is kept with probability 1 - p (a float32 uniform u >= p, the resolution of torch.rand) and
scaled by 1 / (1 - p), as torch's dropout (Srivastava et al. 2014, inverted dropout). The draws differ from
torch's; each call seeds its numpy generator from torch's global generator, so a seeded run gives the same masks
every time and a resumed run (which restores torch's RNG state) the same ones as an uninterrupted run. Off CPU
(CUDA draws with Philox in the fused kernel) nothing is swapped.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

NAME = "lowdata_sdpa"  # the attention implementation registered below


def keep_mask(shape, p: float) -> torch.Tensor:
    """A bool mask of `shape`, each element True (kept) with probability 1 - p; numpy-drawn."""
    seed = int(torch.randint(0, 2 ** 62, (1,)).item())  # from torch's generator: seeded, saved in checkpoints
    u = np.random.Generator(np.random.PCG64(seed)).random(int(np.prod(shape)), dtype=np.float32)
    return torch.from_numpy(u).view(shape) >= p


def inverted_dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Inverted dropout of x (training mode) with a numpy-drawn mask; see the module docstring."""
    if p <= 0:
        return x
    if p >= 1:
        return x * 0
    # 0/1 in x's dtype, then the scale as a Python number (in bf16, a bf16 1 / (1 - p) would be 0.16% off)
    return (x * keep_mask(x.shape, p).to(x.dtype)).mul_(1.0 / (1.0 - p))


class Dropout(nn.Dropout):
    """nn.Dropout with numpy-drawn masks on CPU tensors (torch's kernel elsewhere)."""

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        if x.device.type != "cpu":
            return nn.functional.dropout(x, self.p, True, self.inplace)
        return inverted_dropout(x, self.p)


class _DropAttention(torch.autograd.Function):
    """softmax(q k^T * scale, masked) * keep @ v on (N, L, D) contiguous inputs, with a hand-written backward whose
    batched matmuls all see contiguous (or transposed-contiguous) matrices: torch's math-path attention hands its
    CPU bmm strided views that it multiplies one (L, D) matrix at a time (profiled: 2.3k selects and copies a
    layer, 10 ms against 4 ms for the fused kernel without dropout). The softmax and its gradient in float32."""

    @staticmethod
    def forward(ctx, q, k, v, allowed, keep, scale):
        s = torch.bmm(q, k.transpose(1, 2)).float().mul_(scale)
        if allowed is not None:  # (N, L, S) bool, True = attend
            s.masked_fill_(~allowed, torch.finfo(s.dtype).min)
        p = torch.softmax(s, -1)
        ctx.save_for_backward(q, k, v, p, keep)
        ctx.scale = scale
        return torch.bmm((p * keep).to(v.dtype), v)

    @staticmethod
    def backward(ctx, grad):
        q, k, v, p, keep = ctx.saved_tensors
        grad = grad.contiguous().to(v.dtype)
        dv = torch.bmm((p * keep).to(v.dtype).transpose(1, 2), grad)
        dp = torch.bmm(grad, v.transpose(1, 2)).float().mul_(keep)
        ds = p * (dp - (dp * p).sum(-1, keepdim=True))  # the softmax's backward
        ds = ds.mul_(ctx.scale).to(q.dtype)
        return torch.bmm(ds, k), torch.bmm(ds.transpose(1, 2), q), dv, None, None, None


def attention(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None, **kwargs):
    """transformers' attention-interface signature; (B, H, L, D) in, (B, L, H, D) out, as `sdpa_attention_forward`.
    Without dropout (eval), off CPU, and for causal, biased or grouped-key attention: `sdpa_attention_forward`."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    causal = attention_mask is None and getattr(module, "is_causal", True)  # as sdpa_attention_forward decides
    if dropout == 0 or query.device.type != "cpu" or causal or kwargs.get("position_bias") is not None \
            or key.shape[1] != query.shape[1] or (attention_mask is not None and attention_mask.dtype != torch.bool):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    b, h, lq, d = query.shape
    ls = key.shape[2]
    scaling = d ** -0.5 if scaling is None else scaling
    dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else query.dtype
    q, k, v = (t.to(dtype).reshape(b * h, t.shape[2], d) for t in (query, key, value))  # copies: contiguous
    allowed = None if attention_mask is None else \
        attention_mask[..., :ls].expand(b, h, lq, ls).reshape(b * h, lq, ls)
    keep = keep_mask((b * h, lq, ls), dropout).float().mul_(1 / (1 - dropout))  # float32, as the softmax
    with torch.autocast("cpu", enabled=False):
        out = _DropAttention.apply(q, k, v, allowed, keep, scaling)
    return out.view(b, h, lq, d).transpose(1, 2).contiguous(), None


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)


@contextmanager
def cpu_dropout(model: nn.Module, device_type: str = "cpu"):
    """Within the block, model trains with this module's dropout and attention (CPU only); restored on exit."""
    if device_type != "cpu":
        yield model
        return
    swapped, configs = [], []
    try:  # whatever fails half-way, the finally below puts back what was swapped
        for parent in model.modules():
            for name, child in list(parent.named_children()):
                if type(child) is nn.Dropout:
                    swapped.append((parent, name, child))
                    setattr(parent, name, Dropout(child.p, child.inplace).train(child.training))
        found = [getattr(m, "config", None) for m in model.modules()]
        found = [c for i, c in enumerate(found) if getattr(c, "_attn_implementation", None) == "sdpa"
                 and all(c is not o for o in found[:i])]
        if found:
            _register()
        for cfg in found:
            cfg._attn_implementation = NAME
            configs.append(cfg)
        yield model
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)
        for cfg in configs:
            cfg._attn_implementation = "sdpa"
