# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Mixed precision of the forwards (``autocast`` knobs), with a fallback to
fp32 on CPUs that have no native bf16/fp16 kernels."""
import contextlib
import functools
from typing import Optional

import torch
from mmengine.logging import print_log

DTYPES = (None, 'bfloat16', 'float16')
_warned = set()


def check_autocast(value: Optional[str], name: str) -> None:
    if value not in DTYPES:
        raise ValueError(f"{name} must be None, 'bfloat16' or 'float16', "
                         f'got {value!r}')


@functools.lru_cache(maxsize=None)
def cpu_has_native(dtype: str) -> bool:
    """Whether oneDNN has native kernels for ``dtype`` on this CPU (AVX512
    BF16/FP16 or AMX). Without them PyTorch emulates the low-precision
    convolutions, several times slower than fp32. Asked once per dtype
    (every forward of the hot paths goes through :func:`autocast`)."""
    name = {'bfloat16': 'bf16', 'float16': 'fp16'}[dtype]
    check = getattr(torch.ops.mkldnn, f'_is_mkldnn_{name}_supported', None)
    try:
        return True if check is None else bool(check())
    except Exception:  # an old or unusual build: trust the config
        return True


def autocast(device: torch.device, dtype: Optional[str]):
    """Autocast to ``dtype`` for a block of forwards (``None``: fp32). On a
    CPU without native ``dtype`` kernels the block runs in fp32 (logged once
    per dtype): emulated bf16 made an SSD-KD student step 10x and a synthesis
    round 7x slower than fp32 on a 2-core AVX2 EPYC (5.33 vs 0.54 s, 14.6 vs
    2.2 s, Fashion-MNIST config)."""
    if dtype is None:
        return contextlib.nullcontext()
    if device.type == 'cpu' and not cpu_has_native(dtype):
        if dtype not in _warned:
            _warned.add(dtype)
            print_log(
                f'autocast={dtype!r} is set, but this CPU has no native '
                f'{dtype} kernels (oneDNN): the forwards run in fp32, which '
                'is several times faster here. Set the autocast knobs to '
                'None to silence this.', logger='current', level=30)
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=getattr(torch, dtype))
