# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Progressive-upsampling generator for segmentation resolutions."""
import copy
import math
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmrazor.registry import MODELS


@MODELS.register_module()
class SSDKDDeepGenerator(BaseModule):
    """Generator g(z; θ_g) for dense prediction: z ↦ x̂ ∈ [0, 1]^{C×H×W}.

    A linear layer maps the latent to a small ``ngf·max_mult × b_h × b_w``
    map (``base_size``), then one [Upsample ×2, Conv 3×3, BN, LeakyReLU]
    block per doubling brings it to ``H × W``, halving the channels each time
    down to ``ngf``; a final conv and a sigmoid give pixels in [0, 1].

    The DCGAN-style :class:`SSDKDGenerator` puts a ``(S/4)²``-sized map in its
    first linear layer, which grows with the square of the resolution (134 M
    weights at 256 px); here it is fixed by ``base_size`` (8.4 M at 256 px
    with the defaults), so 256-512 px generators stay trainable.

    Args:
        nz (int): Latent dimension. Defaults to 256.
        ngf (int): Channels of the last block. Defaults to 64.
        img_size (int | tuple): Output ``S`` or ``(H, W)``; each side must be
            ``base_size`` times a power of two. Defaults to 256.
        base_size (int | tuple): Side(s) of the first feature map.
            Defaults to 8.
        nc (int): Output channels. Defaults to 3.
        max_mult (int): Channels of the first map are ``ngf·max_mult``.
            Defaults to 8.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 nz: int = 256,
                 ngf: int = 64,
                 img_size: Union[int, Sequence[int]] = 256,
                 base_size: Union[int, Sequence[int]] = 8,
                 nc: int = 3,
                 max_mult: int = 8,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        size = _pair(img_size)
        base = _pair(base_size)
        ratios = [s / b for s, b in zip(size, base)]
        if any(r < 1 or r != 2**round(math.log2(r)) for r in ratios) or \
                ratios[0] != ratios[1]:
            raise ValueError(
                f'SSDKDDeepGenerator: img_size {size} must be base_size '
                f'{base} times the same power of two on both sides; set '
                'generator.img_size (e.g. 64, 128, 256, 512) and '
                'generator.base_size accordingly.')
        self.nz, self.ngf, self.nc = nz, ngf, nc
        self.img_hw, self.base_hw = size, base
        n_up = int(round(math.log2(ratios[0])))
        channels = [ngf * max(1, max_mult >> i) for i in range(n_up + 1)]
        self.l1 = nn.Sequential(nn.Linear(nz, channels[0] * base[0] * base[1]))
        blocks = [nn.BatchNorm2d(channels[0])]
        for i in range(n_up):
            blocks += [
                nn.Upsample(scale_factor=2, mode='nearest'),
                nn.Conv2d(channels[i], channels[i + 1], 3, padding=1,
                          bias=False),
                nn.BatchNorm2d(channels[i + 1]),
                nn.LeakyReLU(0.2, inplace=True),
            ]
        blocks += [nn.Conv2d(channels[-1], nc, 3, padding=1), nn.Sigmoid()]
        self.conv_blocks = nn.Sequential(*blocks)
        self._c0 = channels[0]

    @property
    def latent_dim(self) -> int:
        return self.nz

    @property
    def img_shape(self) -> Tuple[int, int, int]:
        return (self.nc, *self.img_hw)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.l1(z.flatten(1))
        out = out.view(out.shape[0], self._c0, *self.base_hw)
        return self.conv_blocks(out)

    def clone(self) -> 'SSDKDDeepGenerator':
        """A detached copy on the same device (meta-learning inner loop)."""
        return copy.deepcopy(self)

    def reset_l0(self) -> None:
        """Re-initialise the first linear layer (Fast-DFKD's ``reset_l0``)."""
        nn.init.normal_(self.l1[0].weight, 0.0, 0.02)
        nn.init.constant_(self.l1[0].bias, 0.0)


def _pair(v) -> Tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    v = tuple(int(s) for s in v)
    if len(v) != 2:
        raise ValueError(f'expected an int or (h, w), got {v}')
    return v
