# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""The Gaussian-noise input baseline: no synthesis at all."""
from typing import Tuple

import torch

from ...registry import SYNTHESIZERS
from .base import BaseSynthesizer


@SYNTHESIZERS.register_module()
class NoiseSynthesizer(BaseSynthesizer):
    """The student step distills on N(0, 1) inputs drawn in the models'
    input space at every step; nothing goes into the replay and the
    generator is never trained (``model.inversion=dict(type=
    'NoiseSynthesizer')``)."""

    feeds_replay = False

    def synthesize(self, inputs, optim_g):
        return None

    def draw_inputs(self, n: int, img_shape: Tuple[int, ...],
                    device: torch.device, inputs=None) -> torch.Tensor:
        return torch.randn(n, *img_shape, device=device)
