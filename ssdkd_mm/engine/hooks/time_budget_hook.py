# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Fit an iteration-based run into a wall-clock budget."""
import time

from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmrazor.registry import HOOKS


@HOOKS.register_module()
class SSDKDTimeBudgetHook(Hook):
    """Distill for ``budget_s`` seconds of training-loop time.

    After ``calibrate_iters`` iterations past ``begin_iter`` it measures the
    seconds per iteration (synthesis rounds included, amortised), sets the
    loop's ``max_iters`` so the run ends on the budget and stretches every
    scheduler that ends at ``max_iters`` (e.g. the student's cosine LR) to the
    new end, so the schedule still anneals fully. It re-estimates whenever
    half of the remaining run is done (while at least ``calibrate_iters``
    remain), from the rate since the previous estimate, so a run whose
    iterations get cheaper or dearer (synthesis thinned or stopped once
    the buffer is full) still ends on its budget; it stops the loop if the
    budget is exceeded anyway.

    Args:
        budget_s (float): Wall-clock seconds for the training loop.
        begin_iter (int): Iterations before which nothing is measured (the
            synthesis-only warm-up). Defaults to 0.
        calibrate_iters (int): Iterations measured before the first estimate.
            Defaults to 50.
    """

    priority = 'VERY_HIGH'

    def __init__(self, budget_s: float, begin_iter: int = 0,
                 calibrate_iters: int = 50) -> None:
        self.elapsed_s = 0.0
        if budget_s <= 0 or calibrate_iters < 1:
            raise ValueError('budget_s must be > 0 and calibrate_iters >= 1')
        self.budget_s = budget_s
        self.begin_iter = begin_iter
        self.calibrate_iters = calibrate_iters
        self._t0 = self._t_begin = None
        self._window = None
        self._checkpoints = []

    def before_train(self, runner) -> None:
        # After a resume the budget is for the rest of the run, measured
        # from the resumed iteration.
        self._first = max(self.begin_iter, runner.iter)
        self._t0 = self._t_begin = None
        self._checkpoints = [self._first + self.calibrate_iters]
        self._window = None
        self.elapsed_s = 0.0

    def before_train_iter(self, runner, batch_idx: int, data_batch=None
                          ) -> None:
        # The clock starts at the first iteration: evaluating the teacher in
        # before_train is not distillation time.
        if self._t0 is None:
            self._t0 = time.perf_counter()
            if runner.iter >= self._first:
                self._t_begin = self._t0

    def _set_max_iters(self, runner, new_max: int) -> None:
        old_max = runner.train_loop._max_iters
        runner.train_loop._max_iters = new_max
        schedulers = runner.param_schedulers or []
        if isinstance(schedulers, dict):
            schedulers = [s for v in schedulers.values() for s in v]
        for s in schedulers:
            if getattr(s, 'end', None) == old_max:
                s.end = new_max
                if hasattr(s, 'T_max'):
                    s.T_max = new_max - s.begin

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        now = time.perf_counter()
        done = runner.iter + 1
        if self._t_begin is None and done >= self._first:
            self._t_begin = now
        elapsed = self.elapsed_s = now - self._t0
        if elapsed >= self.budget_s:
            # Ending at this iteration (not stop_training) lets the
            # checkpoint hook save it and the loop run the final validation.
            self._set_max_iters(runner, done)
            return
        if self._checkpoints and done >= self._checkpoints[0]:
            self._checkpoints.pop(0)
            # The rate since the previous estimate (the first: since the
            # warm-up): recent iterations predict the remaining ones.
            t_prev, it_prev = self._window or (self._t_begin, self._first)
            rate = (now - t_prev) / max(done - it_prev, 1)
            self._window = (now, done)
            new_max = max(done + int((self.budget_s - elapsed) / rate),
                          done + 1)
            self._set_max_iters(runner, new_max)
            print_log(
                f'SSD-KD time budget: {rate * 1e3:.1f} ms/iter, '
                f'{self.budget_s - elapsed:.0f} s left -> max_iters '
                f'{runner.train_loop._max_iters}', logger='current')
            nxt = done + (new_max - done) // 2
            if not self._checkpoints and new_max - nxt >= self.calibrate_iters:
                self._checkpoints.append(nxt)
