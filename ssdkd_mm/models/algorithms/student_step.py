# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""The knobs and the loss of SSD-KD's student step (config key ``kd``)."""
from typing import Optional

import torch

from ..augment import BatchAugment, BatchMix
from ..precision import check_autocast
from . import settings


class StudentStep:
    """Settings and loss of one student step on a batch drawn by δ:
    loss = λ·mean_i(w_i·ℓ_i), ℓ_i the task's per-sample τ²·KL(p_t^τ ‖ p_s^τ)
    (plus channel-wise KD for dense tasks), w_i the IS weights.

    Args:
        tau (float): τ of the KD loss. Defaults to 20.
        batch_size (int): Samples drawn per step. Defaults to 256.
        loss_weight (float): λ. Defaults to 1.
        phi_in_loss (bool): Multiply the loss by φ_i again (double counts φ,
            which π already holds). Defaults to False.
        class_balance (float): η > 0 weights each sample (pixel, for
            segmentation) by min(κ, N/(C·n_c))^η of the teacher's class c,
            n_c from the buffer's class histogram (κ: ``modulating.kappa``),
            batch mean 1; 0 is off. Defaults to 0.
        cwd_weight (float): λ_cwd > 0 (dense tasks) adds λ_cwd·channel-wise
            distillation (every class map a distribution over the pixels,
            softmax at ``cwd_tau``). Defaults to 0.
        cwd_tau (float): Defaults to 4.
        augment (dict): :class:`BatchAugment` arguments, for the student's
            views (and the inversion's). Defaults to
            ``dict(crop_padding=4, hflip=True)``.
        autocast (str, optional): ``None`` (fp32), ``'bfloat16'`` or
            ``'float16'`` for the forwards. Defaults to None.
        cached_views (int): V > 0 keeps V augmented views of every buffer
            entry with the teacher's logits on them
            (:class:`~ssdkd_mm.replay.TeacherViewCache`): a draw uses one of
            its entry's V views, and the teacher runs only the first time a
            view is used. 0 (off): a new view and a teacher forward on every
            draw. Defaults to 0.
        mix (dict, optional): :class:`BatchMix` arguments (``mode``
            ``'mixup'``/``'cutmix'``, ``alpha``, ``prob``): each augmented
            view is mixed with another of the batch before teacher and
            student see it; π of an entry is updated from the discrepancy on
            its mixed view. Needs ``cached_views=0`` (the teacher must see the
            mixture). ``None`` (off). Defaults to None.
    """

    def __init__(self,
                 tau: float = 20.0,
                 batch_size: int = 256,
                 loss_weight: float = 1.0,
                 phi_in_loss: bool = False,
                 class_balance: float = 0.0,
                 cwd_weight: float = 0.0,
                 cwd_tau: float = 4.0,
                 augment: Optional[dict] = None,
                 autocast: Optional[str] = None,
                 cached_views: int = 0,
                 mix: Optional[dict] = None) -> None:
        check_autocast(autocast, 'autocast')
        if mix is not None and cached_views:
            raise ValueError(
                'mix needs cached_views=0: the teacher must see each '
                'mixture, so its logits cannot come from the view cache; '
                'set one of them off.')
        if isinstance(cached_views, bool) or not isinstance(
                cached_views, int) or cached_views < 0:
            raise ValueError('cached_views must be an int >= 0 (0: off), '
                             f'got {cached_views!r}')
        if not tau > 0:
            raise ValueError(f'tau must be > 0, got {tau!r}')
        if isinstance(batch_size, bool) or not isinstance(
                batch_size, int) or batch_size < 1:
            raise ValueError(f'batch_size must be an int >= 1, got '
                             f'{batch_size!r}')
        if class_balance < 0:
            raise ValueError('class_balance (η) must be >= 0 (0: off), got '
                             f'{class_balance}')
        if cwd_weight < 0 or cwd_tau <= 0:
            raise ValueError('cwd_weight must be >= 0 (0: off) and cwd_tau '
                             f'> 0, got {cwd_weight} and {cwd_tau}')
        self.tau, self.batch_size = tau, batch_size
        self.loss_weight, self.phi_in_loss = loss_weight, phi_in_loss
        self.class_balance = class_balance
        self.cwd_weight, self.cwd_tau = cwd_weight, cwd_tau
        self.augment_cfg = dict(
            augment if augment is not None else dict(crop_padding=4,
                                                     hflip=True))
        self.autocast = autocast
        self.cached_views = cached_views
        self.mix = None if mix is None else BatchMix(**settings.check_keys(
            mix, settings.accepted(BatchMix), 'kd.mix'))

    def build_augment(self) -> BatchAugment:
        return BatchAugment(**self.augment_cfg)

    def loss(self, task, student_logits: torch.Tensor,
             teacher_logits: torch.Tensor, weights: torch.Tensor,
             class_weight: Optional[torch.Tensor] = None,
             phi: Optional[torch.Tensor] = None) -> torch.Tensor:
        """λ·mean(w·ℓ); ``phi`` multiplies w with ``phi_in_loss``."""
        per_sample = task.kd_loss(student_logits, teacher_logits, self.tau,
                                  class_weight, self.cwd_weight,
                                  self.cwd_tau)
        if self.phi_in_loss and phi is not None:
            weights = weights * phi.to(weights)
        return self.loss_weight * (weights * per_sample).mean()
