# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Anneals and persists the priority sampler δ."""
from mmengine.hooks import Hook

from mmrazor.registry import HOOKS
from ._utils import CKPT_KEY, get_algorithm, log_scalar


@HOOKS.register_module()
class SSDKDPrioritySamplerHook(Hook):
    """β of the importance-sampling weights, annealed linearly from β₀ to 1
    over the distillation iterations ``[begin_iter, max_iters)``; logs β and
    priority statistics; checkpoints ``checkpoint['ssdkd']['sampler']``.

    Args:
        begin_iter (int): First distillation iteration (the warm-up length).
            Defaults to 0.
        log_interval (int): Defaults to 50.
    """

    priority = 'NORMAL'

    def __init__(self, begin_iter: int = 0, log_interval: int = 50) -> None:
        self.begin_iter = begin_iter
        self.log_interval = log_interval
        self._resume_state = None

    def before_train(self, runner) -> None:
        if self._resume_state is not None and runner.iter > 0:
            get_algorithm(runner).sampler.load_state_dict(self._resume_state)
        self._resume_state = None

    def before_train_iter(self, runner, batch_idx: int, data_batch=None
                          ) -> None:
        # β reaches β₁ at the last iteration.
        span = max(runner.max_iters - 1 - self.begin_iter, 1)
        get_algorithm(runner).sampler.set_progress(
            (runner.iter - self.begin_iter) / span)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if not self.every_n_train_iters(runner, self.log_interval):
            return
        alg = get_algorithm(runner)
        log_scalar(runner, 'beta', alg.sampler.beta)
        if len(alg.buffer) > 0:
            prio = alg.buffer.priority.float()
            log_scalar(runner, 'priority_mean', prio.mean())
            log_scalar(runner, 'priority_max', prio.max())

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault(CKPT_KEY, {})['sampler'] = \
            get_algorithm(runner).sampler.state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._resume_state = checkpoint.get(CKPT_KEY, {}).get('sampler')
