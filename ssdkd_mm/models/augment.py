# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Differentiable batch augmentation for synthetic images (no kornia)."""
from typing import Optional

import torch
import torch.nn.functional as F


class BatchAugment:
    """Random crop with zero padding and random horizontal flip, per sample.

    Works on (N, C, H, W) tensors, keeps gradients to the input (the
    generator is trained through it) and is vectorised (two gathers).

    Args:
        crop_padding (int): Padding of the random crop; 0 disables cropping.
            Defaults to 4.
        hflip (bool): Random horizontal flip with probability 0.5.
            Defaults to True.
    """

    def __init__(self, crop_padding: int = 4, hflip: bool = True) -> None:
        if crop_padding < 0:
            raise ValueError(f'augment.crop_padding must be >= 0, got '
                             f'{crop_padding}')
        self.crop_padding, self.hflip = crop_padding, hflip

    def __call__(self,
                 x: torch.Tensor,
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
        n, c, h, w = x.shape
        p = self.crop_padding
        if p > 0:
            padded = F.pad(x, (p, p, p, p))
            off = torch.randint(0, 2 * p + 1, (2, n), generator=generator,
                                device=x.device)
            rows = off[0][:, None] + torch.arange(h, device=x.device)
            cols = off[1][:, None] + torch.arange(w, device=x.device)
            padded = padded.gather(
                2, rows[:, None, :, None].expand(n, c, h, w + 2 * p))
            x = padded.gather(3, cols[:, None, None, :].expand(n, c, h, w))
        if self.hflip:
            flip = torch.rand(n, generator=generator, device=x.device) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
        return x
