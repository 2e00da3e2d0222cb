# Copyright (c) ssdkd_mm contributors. All rights reserved.
import torch
import torch.nn as nn
from mmengine.model import is_model_wrapper


def unwrap(module: nn.Module) -> nn.Module:
    """The bare module under a DDP-style wrapper."""
    return module.module if is_model_wrapper(module) else module


def first_tensor(out):
    """Logits from a ``mode='tensor'`` output (tensor, or tuple/list of)."""
    while isinstance(out, (tuple, list)):
        out = out[-1]
    if not isinstance(out, torch.Tensor):
        raise TypeError(f'expected logits as a tensor, got {type(out)}')
    return out
