# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""DeepInversion BN-statistics loss with momentum-blended batch statistics."""
from contextlib import contextmanager
from typing import Dict, List, Optional

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm


class BNStatisticsLoss:
    """L_BN = Σ_l ‖σ²_l − σ̃²_l‖₂ + ‖μ_l − μ̃_l‖₂ over every BN layer l.

    μ_l, σ²_l are the layer's running statistics; μ̃_l, σ̃²_l are the statistics
    of the synthetic batch at the BN *input* (biased variance), blended with an
    exponential moving average once one exists:
    μ̃ = (1 − m)·μ_batch + m·μ_ema (Fast-DFKD's ``bn_mmt``).

    This is a plain object (not an ``nn.Module``): it owns forward-hook handles
    on the teacher's BN layers and the EMA state, which is checkpointed by
    :class:`SSDKDInversionHook`. Hooks only compute anything inside
    :meth:`enabled`, so validation and KD forwards of the teacher cost nothing
    extra, and stored tensors are dropped once the loss has been read.

    Args:
        momentum (float): m, the EMA momentum. 0 disables blending.
            Defaults to 0.9.
    """

    def __init__(self, momentum: float = 0.9) -> None:
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f'bn_momentum must be in [0, 1), got '
                             f'{momentum}')
        self.momentum = momentum
        self.layers: List[_BatchNorm] = []
        self._handles: list = []
        self._active = False
        self._losses: List[torch.Tensor] = []
        self._batch_stats: List[Optional[tuple]] = []
        self.ema: List[Optional[tuple]] = []

    # ------------------------------------------------------------ hooks
    def attach(self, model: nn.Module) -> int:
        """Hook every ``_BatchNorm`` of ``model`` (call after the Runner has
        wrapped the model: ``revert_sync_batchnorm`` replaces modules)."""
        self.detach()
        self.layers = [m for m in model.modules() if isinstance(m, _BatchNorm)]
        if not self.layers:
            raise ValueError(
                'The teacher has no BatchNorm layer, so the BN-statistics '
                'loss has nothing to match; set inversion.bn_weight=0.')
        for i, layer in enumerate(self.layers):
            self._handles.append(
                layer.register_forward_hook(self._make_hook(i)))
        if len(self.ema) != len(self.layers):
            self.ema = [None] * len(self.layers)
        self._batch_stats = [None] * len(self.layers)
        return len(self.layers)

    def detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def is_attached_to(self, model: nn.Module) -> bool:
        """Whether the hooked layers are exactly the current BN layers of
        ``model`` (they are not after ``revert_sync_batchnorm``)."""
        if not self._handles:
            return False
        current = [m for m in model.modules() if isinstance(m, _BatchNorm)]
        return len(current) == len(self.layers) and all(
            a is b for a, b in zip(current, self.layers))

    def _make_hook(self, index: int):

        def hook(module, inputs, output):
            if not self._active:
                return
            x = inputs[0].float()  # statistics in fp32, also under autocast
            dims = [0] + list(range(2, x.dim()))
            var, mean = torch.var_mean(x, dim=dims, unbiased=False)
            self._batch_stats[index] = (mean.detach(), var.detach())
            ema = self.ema[index]
            if ema is not None and self.momentum > 0:
                m = self.momentum
                mean = (1 - m) * mean + m * ema[0]
                var = (1 - m) * var + m * ema[1]
            self._losses.append(
                torch.norm(module.running_var - var, 2) +
                torch.norm(module.running_mean - mean, 2))

        return hook

    @contextmanager
    def enabled(self):
        """Record BN statistics for forwards inside this context only."""
        self._losses = []
        self._active = True
        try:
            yield self
        finally:
            self._active = False

    def loss(self) -> torch.Tensor:
        """Sum of the per-layer terms recorded in the last forward; clears
        them so no graph outlives the step."""
        if not self._losses:
            raise RuntimeError(
                'No BN statistics were recorded: the teacher forward must run '
                'inside `BNStatisticsLoss.enabled()` after `attach()`.')
        total = torch.stack(self._losses).sum()
        self._losses = []
        return total

    def update_momentum(self) -> None:
        """μ_ema ← m·μ_ema + (1 − m)·μ_batch with the last recorded batch."""
        for i, stats in enumerate(self._batch_stats):
            if stats is None:
                continue
            if self.ema[i] is None:
                self.ema[i] = (stats[0].clone(), stats[1].clone())
            else:
                m = self.momentum
                self.ema[i] = (m * self.ema[i][0] + (1 - m) * stats[0],
                               m * self.ema[i][1] + (1 - m) * stats[1])

    # ------------------------------------------------------------ state
    def state_dict(self) -> Dict:
        return dict(
            momentum=self.momentum,
            ema=[None if e is None else (e[0].cpu(), e[1].cpu())
                 for e in self.ema])

    def load_state_dict(self, state: Dict) -> None:
        ema = state['ema']
        if self.layers and len(ema) != len(self.layers):
            raise ValueError(
                f'BN-statistics state has {len(ema)} layers but the teacher '
                f'has {len(self.layers)}: the checkpoint belongs to another '
                'teacher.')
        device = (self.layers[0].running_mean.device
                  if self.layers else torch.device('cpu'))
        self.momentum = state.get('momentum', self.momentum)
        self.ema = [None if e is None else (e[0].to(device), e[1].to(device))
                    for e in ema]
