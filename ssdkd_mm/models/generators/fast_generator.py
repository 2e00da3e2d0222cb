# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""DCGAN-style generator used for data inversion (Fast-DFKD shape, images in [0, 1])."""
import copy
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmrazor.registry import MODELS


@MODELS.register_module()
class SSDKDGenerator(BaseModule):
    """Generator g(z; θ_g) mapping z ~ N(0, I) to images x̂ ∈ [0, 1]^{C×S×S}.

    A linear layer maps the latent to a ``2·ngf × S/4 × S/4`` map, two
    upsample-conv blocks bring it to ``S × S`` and a sigmoid keeps pixels in
    [0, 1], so that images can be stored as uint8, shown, and normalised with
    exactly the statistics of the model's data preprocessor.

    Args:
        nz (int): Latent dimension. Defaults to 256.
        ngf (int): Base channel width. Defaults to 64.
        img_size (int): Output side length; must be divisible by 4.
            Defaults to 32.
        nc (int): Output channels. Defaults to 3.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 nz: int = 256,
                 ngf: int = 64,
                 img_size: int = 32,
                 nc: int = 3,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        if img_size % 4 != 0:
            raise ValueError(f'SSDKDGenerator needs img_size divisible by 4, '
                             f'got {img_size}; set generator.img_size to the '
                             "teacher's input size (e.g. 28 or 32).")
        self.nz, self.ngf, self.img_size, self.nc = nz, ngf, img_size, nc
        self.init_size = img_size // 4
        self.l1 = nn.Sequential(
            nn.Linear(nz, 2 * ngf * self.init_size**2))
        self.conv_blocks = nn.Sequential(
            nn.BatchNorm2d(2 * ngf),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(2 * ngf, 2 * ngf, 3, padding=1, bias=False),
            nn.BatchNorm2d(2 * ngf),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(2 * ngf, ngf, 3, padding=1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ngf, nc, 3, padding=1),
            nn.Sigmoid(),
        )

    @property
    def latent_dim(self) -> int:
        return self.nz

    @property
    def img_shape(self) -> Tuple[int, int, int]:
        return (self.nc, self.img_size, self.img_size)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.l1(z.flatten(1))
        out = out.view(out.shape[0], 2 * self.ngf, self.init_size,
                       self.init_size)
        return self.conv_blocks(out)

    def clone(self) -> 'SSDKDGenerator':
        """A detached copy on the same device, for the meta-learning inner
        loop."""
        return copy.deepcopy(self)

    def reset_l0(self) -> None:
        """Re-initialise the first linear layer (Fast-DFKD's ``reset_l0``)."""
        nn.init.normal_(self.l1[0].weight, 0.0, 0.02)
        nn.init.constant_(self.l1[0].bias, 0.0)
