# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Validation of the student, and of the teacher when asked."""
from typing import Dict

import torch
from mmengine.logging import print_log
from mmengine.runner import ValLoop, autocast

from mmrazor.registry import LOOPS
from ...models._utils import unwrap


@LOOPS.register_module()
class SSDKDValLoop(ValLoop):
    """Validates the student on the real val set; the teacher's metrics are
    added as ``teacher.<metric>``.

    Unlike mmrazor's ``SingleTeacherDistillValLoop`` it returns the metrics,
    runs the epoch hooks once, and evaluates the (frozen) teacher only as
    often as asked.

    Args:
        teacher_eval (str): ``'first'`` (once; also called by
            :class:`SSDKDInversionHook` before training), ``'always'`` or
            ``'never'``. Defaults to ``'first'``.
    """

    def __init__(self, runner, dataloader, evaluator, fp16: bool = False,
                 teacher_eval: str = 'first') -> None:
        super().__init__(runner, dataloader, evaluator, fp16)
        if teacher_eval not in ('first', 'always', 'never'):
            raise ValueError("teacher_eval must be 'first', 'always' or "
                             f"'never', got {teacher_eval!r}")
        self.teacher_eval = teacher_eval
        self.teacher_metrics: Dict = {}

    @property
    def _algorithm(self):
        return unwrap(self.runner.model)

    def _teacher_metrics(self) -> Dict:
        alg = self._algorithm
        teacher = alg.teacher
        teacher.data_preprocessor = alg.data_preprocessor
        teacher.eval()
        with torch.no_grad():
            for data_batch in self.dataloader:
                with autocast(enabled=self.fp16):
                    outputs = teacher.val_step(data_batch)
                self.evaluator.process(data_samples=outputs,
                                       data_batch=data_batch)
        metrics = self.evaluator.evaluate(len(self.dataloader.dataset))
        return {f'teacher.{k}': v for k, v in metrics.items()}

    def evaluate_teacher(self) -> Dict:
        """Evaluate and log the teacher once (before training starts)."""
        if not self.teacher_metrics and self.teacher_eval != 'never':
            self.teacher_metrics = self._teacher_metrics()
            for k, v in self.teacher_metrics.items():
                self.runner.message_hub.update_scalar(f'val/{k}', v)
            print_log(f'SSD-KD teacher on the val set: {self.teacher_metrics}',
                      logger='current')
        return self.teacher_metrics

    def run(self) -> Dict:
        self.runner.call_hook('before_val')
        self.runner.call_hook('before_val_epoch')
        self.runner.model.eval()
        for idx, data_batch in enumerate(self.dataloader):
            self.run_iter(idx, data_batch)
        metrics = self.evaluator.evaluate(len(self.dataloader.dataset))
        if self.teacher_eval == 'always':
            self.teacher_metrics = self._teacher_metrics()
        else:
            self.evaluate_teacher()
        metrics.update(self.teacher_metrics)
        self.runner.call_hook('after_val_epoch', metrics=metrics)
        self.runner.call_hook('after_val')
        return metrics
