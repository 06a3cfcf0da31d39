"""What the machine runs fast: the one place that decides precision by hardware (training's autocast, MLM refill)."""
from __future__ import annotations

import torch


def bf16_fast(device) -> bool:
    """Whether bf16 is the hardware's fast path: a GPU with bf16, or a CPU with native bf16 instructions
    (AVX512-BF16 or AMX; oneDNN's bf16 matmuls run about 4x the float32 ones on a 2-core AVX512-BF16 VM). CPUs that
    would only emulate bf16 (AVX2, plain AVX512) stay in float32, where emulation is slower."""
    if str(device).startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        return str(device) == "cpu" and (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):  # a build without the probes: stay in float32
        return False
