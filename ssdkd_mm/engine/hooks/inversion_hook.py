# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Schedules synthesis and distillation and persists the algorithm's
state (one key, as mmengine's EMAHook: the model owns the state)."""
from typing import Optional

from mmengine.dist import broadcast
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmrazor.registry import HOOKS
from ...utils.modules import unwrap
from .utils import (CKPT_KEY, get_algorithm, log_scalar,
                    require_persisting_hooks)


@HOOKS.register_module()
class SSDKDInversionHook(Hook):
    """When to synthesise, when to distill, and the generator's lifecycle.

    Iterations ``[0, warmup_iters)`` only synthesise (filling the replay
    buffer, adversarial term off, as Fast-DFKD's warm-up epochs); afterwards
    every iteration is one student step, with one synthesis round every
    ``synth_interval`` iterations.

    It attaches the synthesizer's hooks (BN statistics) in ``before_train``
    (after the Runner wrapped the model and reverted SyncBN), optionally
    evaluates the teacher before training, logs synthesis and KD time, and
    persists the algorithm's whole state (``ssdkd_state_dict()``: counters,
    synthesizer, replay buffer and sampler) under ``checkpoint['ssdkd']``,
    restored on ``--resume``. It is the one hook that does: the algorithm
    refuses to train in a Runner without it.

    Args:
        warmup_iters (int): Synthesis-only iterations. Defaults to 20.
        synth_interval (int): Iterations between synthesis rounds after the
            warm-up. Defaults to 10.
        reset_l0_iter (int, optional): Iteration at which to re-initialise the
            generator's first layer (Fast-DFKD ``reset_l0``). Defaults to None.
        synth_budget (int, optional): Stop synthesising once this many unique
            images were generated (paper ambiguity A1). Defaults to None.
        eval_teacher (bool): Evaluate the teacher on the val set before
            training. Defaults to True.
        log_interval (int): Defaults to 50.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self,
                 warmup_iters: int = 20,
                 synth_interval: int = 10,
                 reset_l0_iter: Optional[int] = None,
                 synth_budget: Optional[int] = None,
                 eval_teacher: bool = True,
                 log_interval: int = 50) -> None:
        if warmup_iters < 0 or synth_interval < 1:
            raise ValueError('warmup_iters must be >= 0 and synth_interval '
                             '>= 1')
        self.warmup_iters = warmup_iters
        self.synth_interval = synth_interval
        self.reset_l0_iter = reset_l0_iter
        self.synth_budget = synth_budget
        self.eval_teacher = eval_teacher
        self.log_interval = log_interval
        self._resume_state = None

    def before_train(self, runner) -> None:
        alg = get_algorithm(runner)
        require_persisting_hooks(runner)
        n_bn = alg.synthesizer.attach(unwrap(alg.teacher))
        teacher = alg.teacher
        if any(p.requires_grad for p in teacher.parameters()):
            raise RuntimeError('The teacher has trainable parameters; it must '
                               'stay frozen during SSD-KD.')
        print_log(f'SSD-KD: BN-statistics hooks on {n_bn} teacher BN layers',
                  logger='current')
        if self._resume_state is not None and runner.iter > 0:
            alg.load_ssdkd_state_dict(self._resume_state)
            print_log(f'SSD-KD: restored state (round {alg.rounds}, '
                      f'{alg.kd_steps} KD steps, {len(alg.replay)} buffer '
                      'images)', logger='current')
        self._resume_state = None
        alg.state_persisted_by = type(self).__name__
        if self.eval_teacher and runner.iter == 0:
            evaluate = getattr(runner.val_loop, 'evaluate_teacher', None)
            if evaluate is not None:
                evaluate()

    def before_train_iter(self, runner, batch_idx: int, data_batch=None
                          ) -> None:
        alg = get_algorithm(runner)
        it = runner.iter
        warm = it < self.warmup_iters
        due = warm or (it - self.warmup_iters) % self.synth_interval == 0
        if (self.synth_budget is not None
                and alg.replay.buffer.n_inserted_total >= self.synth_budget):
            due = False
        alg.synthesis_due = due
        alg.distill_due = not warm
        alg.adversarial = not warm
        if self.reset_l0_iter is not None and it == self.reset_l0_iter:
            generator = unwrap(alg.generator)
            generator.reset_l0()
            # Ranks draw different noise: keep one generator for all.
            for p in generator.l1.parameters():
                broadcast(p.data, 0)
            print_log(f'SSD-KD: generator first layer reset at iter {it}',
                      logger='current')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if not self.every_n_train_iters(runner, self.log_interval):
            return
        alg = get_algorithm(runner)
        log_scalar(runner, 'synth_time_s', alg.synth_time)
        log_scalar(runner, 'kd_time_s', alg.kd_time)
        log_scalar(runner, 'rounds', alg.rounds)
        log_scalar(runner, 'unique_images', alg.replay.buffer.n_inserted_total)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[CKPT_KEY] = get_algorithm(runner).ssdkd_state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # Applied in before_train, once the loop's iteration is restored
        # (load_from for fine-tuning must not pick it up).
        self._resume_state = checkpoint.get(CKPT_KEY)

    def after_run(self, runner) -> None:
        get_algorithm(runner).synthesizer.detach()
