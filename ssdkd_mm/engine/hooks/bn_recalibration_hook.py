# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Recalibrates the student's BN statistics on uniform buffer batches."""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmrazor.registry import HOOKS
from .utils import get_algorithm


@HOOKS.register_module()
class SSDKDBNRecalibrationHook(Hook):
    """Before every validation and at the last training iteration (before
    the last checkpoint is written, so the exported student has them), the
    student's BN running statistics are re-estimated on ``num_batches``
    uniformly drawn buffer batches
    (:meth:`SSDKDDistillation.recalibrate_student_bn`): the prioritised
    batches of training skew them.

    Args:
        num_batches (int): Batches averaged. Defaults to 8.
        batch_size (int, optional): Defaults to ``kd.batch_size``.
    """

    # after the time-budget hook fixes the last iteration, before the
    # checkpoint hook (VERY_LOW) and the snapshot hook (NORMAL) save it
    priority = 'ABOVE_NORMAL'

    def __init__(self, num_batches: int = 8,
                 batch_size: Optional[int] = None) -> None:
        if num_batches < 1:
            raise ValueError(f'num_batches must be >= 1, got {num_batches}')
        self.num_batches = num_batches
        self.batch_size = batch_size
        self._done_at = None

    def _recalibrate(self, runner) -> None:
        if self._done_at == runner.iter:
            return
        n = get_algorithm(runner).recalibrate_student_bn(
            self.num_batches, self.batch_size)
        self._done_at = runner.iter
        if n:
            print_log(f'SSD-KD: student BN statistics of {n} layers '
                      f'recalibrated on {self.num_batches} uniform buffer '
                      'batches', logger='current')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if self.is_last_train_iter(runner):
            self._recalibrate(runner)

    def before_val_epoch(self, runner) -> None:
        self._recalibrate(runner)
