# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Validation of the student, and of the teacher when asked."""
from typing import Dict, Optional

import torch
from mmengine.logging import print_log
from mmengine.runner import ValLoop, autocast

from mmrazor.registry import LOOPS
from ...utils.modules import unwrap
from ..data_check import check_val_data


def evaluate_model(val_loop, model, data_preprocessor) -> Dict:
    """Metrics of ``model`` (the teacher, a student snapshot, ...) on a val
    loop's data and evaluator, inputs prepared by ``data_preprocessor``;
    no hooks are called."""
    model.eval()
    with torch.no_grad():
        for data_batch in val_loop.dataloader:
            with autocast(enabled=val_loop.fp16):
                data = data_preprocessor(data_batch, False)
                outputs = model(**data, mode='predict')
            val_loop.evaluator.process(data_samples=outputs,
                                       data_batch=data_batch)
    return val_loop.evaluator.evaluate(len(val_loop.dataloader.dataset))


@LOOPS.register_module()
class SSDKDValLoop(ValLoop):
    """Validates the student on the real val set; the teacher's metrics are
    added as ``teacher.<metric>``.

    Unlike mmrazor's ``SingleTeacherDistillValLoop`` it returns the metrics,
    runs the epoch hooks once, and evaluates the (frozen) teacher only as
    often as asked.

    A teacher scoring below ``teacher_floor`` on the val set was almost
    always loaded wrongly (keys, normalisation, RGB/BGR): it is reported as a
    warning, or stops the run when ``teacher_floor_action='stop'``.

    Args:
        teacher_eval (str): ``'first'`` (once; also called by
            :class:`SSDKDInversionHook` before training), ``'always'`` or
            ``'never'``. Defaults to ``'first'``.
        teacher_floor (float, optional): Lowest acceptable teacher score, in
            the metric's own units (e.g. 90.0 for ``accuracy/top1``).
            Defaults to None (no check).
        teacher_floor_metric (str, optional): Metric compared with the
            floor, without the ``teacher.`` prefix. Defaults to the first
            metric of the evaluator.
        teacher_floor_action (str): ``'warn'`` or ``'stop'`` (raise
            ``RuntimeError``). Defaults to ``'warn'``.
    """

    def __init__(self, runner, dataloader, evaluator, fp16: bool = False,
                 teacher_eval: str = 'first',
                 teacher_floor: Optional[float] = None,
                 teacher_floor_metric: Optional[str] = None,
                 teacher_floor_action: str = 'warn') -> None:
        if teacher_eval not in ('first', 'always', 'never'):
            raise ValueError("teacher_eval must be 'first', 'always' or "
                             f"'never', got {teacher_eval!r}")
        if teacher_floor_action not in ('warn', 'stop'):
            raise ValueError("teacher_floor_action must be 'warn' or 'stop', "
                             f'got {teacher_floor_action!r}')
        try:
            super().__init__(runner, dataloader, evaluator, fp16)
        except Exception:
            # After the dataset's own attempt (which may download it): if
            # the val files are missing, say so instead of its error.
            check_val_data(dataloader)
            raise
        self.teacher_eval = teacher_eval
        self.teacher_floor = teacher_floor
        self.teacher_floor_metric = teacher_floor_metric
        self.teacher_floor_action = teacher_floor_action
        self.teacher_metrics: Dict = {}

    @property
    def _algorithm(self):
        return unwrap(self.runner.model)

    def _teacher_metrics(self) -> Dict:
        alg = self._algorithm
        alg.teacher.data_preprocessor = alg.data_preprocessor
        metrics = evaluate_model(self, alg.teacher, alg.data_preprocessor)
        return {f'teacher.{k}': v for k, v in metrics.items()}

    def evaluate_teacher(self) -> Dict:
        """Evaluate and log the teacher once (before training starts)."""
        if not self.teacher_metrics and self.teacher_eval != 'never':
            self.teacher_metrics = self._teacher_metrics()
            for k, v in self.teacher_metrics.items():
                self.runner.message_hub.update_scalar(f'val/{k}', v)
            print_log(f'SSD-KD teacher on the val set: {self.teacher_metrics}',
                      logger='current')
            self.check_teacher_floor(self.teacher_metrics)
        return self.teacher_metrics

    def check_teacher_floor(self, metrics: Dict) -> None:
        """Warn, or stop, when the teacher scores below the floor."""
        if self.teacher_floor is None or not metrics:
            return
        key = ('teacher.' + self.teacher_floor_metric
               if self.teacher_floor_metric else next(iter(metrics)))
        if key not in metrics:
            raise KeyError(f'teacher_floor_metric {key[8:]!r} is not among '
                           f'the teacher metrics {sorted(metrics)}')
        score = float(metrics[key])
        if score >= self.teacher_floor:
            return
        msg = (f'The teacher scores {key} = {score:.4g} on the val set, below '
               f'teacher_floor = {self.teacher_floor:g}. A teacher this weak '
               'was usually loaded wrongly: check `model.teacher_ckpt` and '
               'the teacher config, the data preprocessor mean/std and the '
               'channel order (to_rgb) against how the teacher was trained.')
        if self.teacher_floor_action == 'stop':
            raise RuntimeError(msg + ' Stopped (teacher_floor_action='
                               "'stop'); lower teacher_floor to go on.")
        print_log(msg, logger='current', level=30)

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
