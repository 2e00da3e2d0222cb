# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Anneals the priority sampler δ's IS exponent β and logs it."""
from mmengine.hooks import Hook

from mmrazor.registry import HOOKS
from .utils import get_algorithm, log_scalar


@HOOKS.register_module()
class SSDKDPrioritySamplerHook(Hook):
    """β of the importance-sampling weights, annealed linearly from β₀ to β₁
    over the distillation iterations ``[begin_iter, max_iters)``; logs β,
    priority statistics and the replay's diagnostics
    (:meth:`PrioritizedReplay.diagnostics`: IS-weight ESS, δ's effective
    size, age of drawn entries, teacher confidence of the buffer and of new
    images, evicted-never-drawn share, turnover, draws per image) every
    ``log_interval``. (The sampler's state is checkpointed with the replay
    buffer by :class:`SSDKDReplayBufferHook`.)

    Args:
        begin_iter (int): First distillation iteration (the warm-up length).
            Defaults to 0.
        log_interval (int): Defaults to 50.
    """

    priority = 'NORMAL'

    def __init__(self, begin_iter: int = 0, log_interval: int = 50) -> None:
        self.begin_iter = begin_iter
        self.log_interval = log_interval

    def before_train_iter(self, runner, batch_idx: int, data_batch=None
                          ) -> None:
        # β reaches β₁ at the last iteration.
        span = max(runner.max_iters - 1 - self.begin_iter, 1)
        get_algorithm(runner).replay.sampler.set_progress(
            (runner.iter - self.begin_iter) / span)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if not self.every_n_train_iters(runner, self.log_interval):
            return
        replay = get_algorithm(runner).replay
        log_scalar(runner, 'beta', replay.sampler.beta)
        if len(replay) > 0:
            prio = replay.buffer.priority.float()
            log_scalar(runner, 'priority_mean', prio.mean())
            log_scalar(runner, 'priority_max', prio.max())
        for name, value in replay.diagnostics().items():
            log_scalar(runner, name, value)
