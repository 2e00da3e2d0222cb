# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""The NaN/Inf guard of SSD-KD's generator and student steps."""
import torch
from mmengine import dist
from mmengine.logging import print_log


class NonFiniteGuard:
    """Skip a step whose loss is NaN/Inf on any rank (every rank then skips
    it), count skipped steps, and stop after ``patience`` in a row.

    Args:
        patience (int): K ≥ 1 non-finite losses in a row stop training with
            ``FloatingPointError``. Defaults to 10.
    """

    def __init__(self, patience: int = 10) -> None:
        if isinstance(patience, bool) or not isinstance(
                patience, int) or patience < 1:
            raise ValueError('nonfinite_patience must be an int >= 1, got '
                             f'{patience!r}')
        self.patience = patience
        self.skipped = 0  # steps skipped for a NaN/Inf loss
        self.streak = 0

    def skip(self, loss: torch.Tensor, what: str) -> bool:
        """Whether to skip the update of ``loss`` (``what``: the step)."""
        bad = (~torch.isfinite(loss.detach())).any().float().reshape(1)
        if dist.get_world_size() > 1:  # same decision on every rank
            dist.all_reduce(bad, op='max')
        if not bad.item():
            self.streak = 0
            return False
        self.skipped += 1
        self.streak += 1
        print_log(
            f'SSD-KD: non-finite {what} loss ({loss.detach().float().item()})'
            f', step skipped ({self.streak} in a row, '
            f'{self.skipped} in total)', logger='current', level=30)
        if self.streak >= self.patience:
            raise FloatingPointError(
                f'{self.streak} non-finite losses in a row (the '
                f'last one in the {what} step); training stopped '
                f'(nonfinite_patience={self.patience}). Lower the '
                'learning rates or the loss weights, disable autocast, or '
                'check the teacher checkpoint, then resume from the last '
                'checkpoint (no non-finite checkpoint is ever written).')
        return True
