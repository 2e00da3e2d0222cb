# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""The CIFAR backbones of the data-free KD benchmark's five pairs that
mmpretrain lacks, registered in mmpretrain's MODELS (``mmpretrain.`` scope):

* :class:`WideResNet_CIFAR` — Wide ResNet-d-k (Zagoruyko & Komodakis, "Wide
  Residual Networks", BMVC 2016): WRN-40-2, WRN-40-1, WRN-16-2, WRN-16-1.
* :class:`VGG_CIFAR` — VGG-11 (Simonyan & Zisserman, configuration "A") with
  batch normalisation, as the CIFAR KD benchmarks use it: the five conv
  stages of the ImageNet net, max-pooling between the first four only while
  the map is larger than 4×4, global average pooling and one linear layer
  instead of the three 4096-wide ones.

CIFAR ResNet-18/34 need nothing new: mmpretrain's ``ResNet_CIFAR`` (3×3
stem, stride 1, no max-pool, basic blocks, 1×1-conv + BN projection
shortcuts, ``GlobalAveragePooling`` + ``LinearClsHead``) is the same network
as the benchmarks' ResNet-18/34 (the DAFL / kuangliu layout); only the names
of the weights differ (``shortcut`` ↔ ``downsample``, ``linear`` ↔
``head.fc``), which ``tools/convert_teacher.py`` maps. The tests check it
with a forward written from the description.

Both backbones return a one-tuple with the last feature map (mmpretrain's
convention); put ``GlobalAveragePooling`` and a ``LinearClsHead`` after them
(see ``configs/cifar/``).
"""
from collections import OrderedDict
from typing import List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from mmpretrain.registry import MODELS


def _he_init(module: nn.Module) -> None:
    """He-normal convolutions (fan-out) with zero bias, unit BN: the setup of
    the WRN and VGG papers' CIFAR training."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(
                m.weight, mode='fan_out', nonlinearity='relu')
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class PreActBlock(nn.Module):
    """WRN's basic block, pre-activation: BN-ReLU-conv3×3-BN-ReLU-(dropout)-
    conv3×3, plus the input (or a 1×1 convolution of the activated input
    where the width or the stride changes)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int,
                 drop_rate: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(
            in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1,
                               bias=False)
        self.drop_rate = drop_rate
        self.shortcut = None
        if in_channels != out_channels or stride != 1:
            self.shortcut = nn.Conv2d(
                in_channels, out_channels, 1, stride, 0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = F.relu(self.bn1(x))
        identity = x if self.shortcut is None else self.shortcut(act)
        out = F.relu(self.bn2(self.conv1(act)))
        if self.drop_rate > 0:
            out = F.dropout(out, self.drop_rate, self.training)
        return self.conv2(out) + identity


@MODELS.register_module()
class WideResNet_CIFAR(BaseBackbone):
    """Wide ResNet-``depth``-``widen_factor`` for 32×32 inputs.

    A 3×3 convolution to 16 channels, three groups of ``(depth - 4) / 6``
    :class:`PreActBlock` with 16k, 32k and 64k channels (the first block of
    the second and third group has stride 2), then BN-ReLU. No dropout by
    default (the KD benchmarks' teachers and students use none).

    Args:
        depth (int): 6n + 4, e.g. 16, 28, 40.
        widen_factor (int): k.
        drop_rate (float): dropout between a block's convolutions.
        in_channels (int): input channels.
        init_cfg: mmengine init config.

    Weights: ``conv1``, ``layer{1,2,3}.{i}.{bn1,conv1,bn2,conv2,shortcut}``,
    ``bn`` (the final norm).
    """

    def __init__(self,
                 depth: int = 40,
                 widen_factor: int = 2,
                 drop_rate: float = 0.0,
                 in_channels: int = 3,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(
                f'WideResNet_CIFAR: depth must be 6n + 4 with n >= 1 (16, '
                f'22, 28, 40, ...), got {depth}')
        if widen_factor < 1:
            raise ValueError(
                f'WideResNet_CIFAR: widen_factor must be >= 1, got '
                f'{widen_factor}')
        self.depth, self.widen_factor = depth, widen_factor
        n = (depth - 4) // 6
        widths = [16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        channels = 16
        for g, (width, stride) in enumerate(zip(widths, (1, 2, 2)), 1):
            blocks = []
            for i in range(n):
                blocks.append(
                    PreActBlock(channels, width, stride if i == 0 else 1,
                                drop_rate))
                channels = width
            self.add_module(f'layer{g}', nn.Sequential(*blocks))
        self.bn = nn.BatchNorm2d(channels)
        self.out_channels = channels

    def init_weights(self) -> None:
        super().init_weights()
        if self.init_cfg is None:
            _he_init(self)

    def forward(self, x: torch.Tensor):
        x = self.conv1(x)
        x = self.layer3(self.layer2(self.layer1(x)))
        return (F.relu(self.bn(x)), )


#: VGG configurations "A" (11), "B" (13), "D" (16), "E" (19): output
#: channels of the convolutions of each of the five stages.
VGG_STAGES = {
    11: ((64, ), (128, ), (256, 256), (512, 512), (512, 512)),
    13: ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    16: ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512),
         (512, 512, 512)),
    19: ((64, 64), (128, 128), (256, ) * 4, (512, ) * 4, (512, ) * 4),
}


@MODELS.register_module()
class VGG_CIFAR(BaseBackbone):
    """VGG-``depth`` with batch normalisation for small inputs.

    Five stages of 3×3 conv (with bias) - BN - ReLU units; 2×2 max-pooling
    after stages 1-3, and after stage 4 only where its map is still larger
    than 4×4 (so 32×32 inputs reach the last stage at 4×4, as 64×64 ones
    do); no pooling after stage 5 (put ``GlobalAveragePooling`` next).

    Args:
        depth (int): 11, 13, 16 or 19.
        in_channels (int): input channels.
        init_cfg: mmengine init config.

    Weights: ``stages.{s}.{u}.conv``, ``stages.{s}.{u}.bn``.
    """

    def __init__(self, depth: int = 11, in_channels: int = 3,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if depth not in VGG_STAGES:
            raise ValueError(f'VGG_CIFAR: depth must be one of '
                             f'{sorted(VGG_STAGES)}, got {depth}')
        self.depth = depth
        stages: List[nn.Sequential] = []
        channels = in_channels
        for widths in VGG_STAGES[depth]:
            units = []
            for width in widths:
                # the conv keeps its bias (as the benchmarks' VGG does)
                units.append(
                    nn.Sequential(
                        OrderedDict(
                            conv=nn.Conv2d(channels, width, 3, padding=1),
                            bn=nn.BatchNorm2d(width),
                            relu=nn.ReLU(inplace=True))))
                channels = width
            stages.append(nn.Sequential(*units))
        self.stages = nn.ModuleList(stages)
        self.out_channels = channels

    def init_weights(self) -> None:
        super().init_weights()
        if self.init_cfg is None:
            _he_init(self)

    def forward(self, x: torch.Tensor):
        for s, stage in enumerate(self.stages):
            x = stage(x)
            if s < 3 or (s == 3 and x.shape[-1] > 4):
                x = F.max_pool2d(x, 2, 2)
        return (x, )


def count_parameters(module: nn.Module) -> int:
    """Trainable and frozen parameters (no buffers)."""
    return sum(p.numel() for p in module.parameters())


__all__: Sequence[str] = [
    'PreActBlock', 'WideResNet_CIFAR', 'VGG_CIFAR', 'VGG_STAGES',
    'count_parameters'
]
