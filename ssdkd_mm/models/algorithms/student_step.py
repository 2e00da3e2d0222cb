# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""SSD-KD's student step (config key ``kd``): draw, views, mix, teacher
targets, loss, update, reprioritise, on explicit inputs (:class:`StepInputs`),
never the algorithm."""
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import torch
import torch.nn as nn
from mmengine import dist
from mmengine.optim import OptimWrapper

from ...replay import PrioritizedReplay, TeacherViewCache
from ...replay.modulating import inverse_frequency
from ...utils.modules import unwrap
from ..augment import BatchAugment, BatchMix
from ..precision import autocast, check_autocast
from . import settings


@dataclass
class StepInputs:
    """What one student step computes on.

    Args:
        teacher (nn.Module): The frozen teacher (unwrapped).
        student (nn.Module): The student as trained (DDP-wrapped under DDP:
            its backward syncs the gradients).
        normalize (callable): Images in [0, 1] → the models' input.
        task: The task adapter (logits, align, per-sample KD loss).
        replay (PrioritizedReplay): Where the batch is drawn by δ and whose
            π is updated afterwards.
        source: The synthesizer; when it does not feed the replay
            (``feeds_replay=False``) the batch is its ``draw_inputs``, given
            ``synthesis`` (its :class:`SynthesisInputs`).
        img_shape (tuple): ``(C, H, W)`` of the images.
        device (torch.device): Where the step runs.
        guard: :class:`NonFiniteGuard` (skips and counts NaN/Inf losses).
        num_classes (int): Classes (class-balance weights).
        kappa (float): κ, the cap of the class-balance weights.
    """
    teacher: nn.Module
    student: nn.Module
    normalize: Callable[[torch.Tensor], torch.Tensor]
    task: object
    replay: PrioritizedReplay
    source: object
    img_shape: Tuple[int, ...]
    device: torch.device
    guard: object
    num_classes: int
    kappa: float
    synthesis: Optional[object] = None


class StudentStep:
    """One student step on a batch drawn by δ:
    loss = λ·mean_i(w_i·ℓ_i), ℓ_i the task's per-sample τ²·KL(p_t^τ ‖ p_s^τ)
    (plus channel-wise KD for dense tasks), w_i the IS weights; then π of
    the drawn entries from the step's logits. Its options hold its parts:
    the views (:attr:`augment`), the mix and the view cache.

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
        self.autocast = autocast
        self.cached_views = cached_views
        self.mix = None if mix is None else BatchMix(**settings.check_keys(
            mix, settings.accepted(BatchMix), 'kd.mix'))
        self.augment_cfg = dict(
            augment if augment is not None else dict(crop_padding=4,
                                                     hflip=True))
        self.augment = BatchAugment(**self.augment_cfg)
        #: The teacher's logits on V fixed views per entry (the replay
        #: drops an overwritten entry's views).
        self.view_cache = (TeacherViewCache(cached_views)
                           if cached_views else None)

    def __call__(self, inputs: StepInputs,
                 optim_s: OptimWrapper) -> Optional[Dict[str, torch.Tensor]]:
        """One step; None when its loss was not finite (skipped)."""
        x, t_logits, idx, weights, raw_mean = self.draw(inputs)
        if t_logits is None:
            t_logits = self.teacher_logits(inputs, x)
        task, student = inputs.task, inputs.student
        with optim_s.optim_context(student):
            with autocast(inputs.device, self.autocast):
                s_logits = task.logits(student, x)
            s_logits, t_logits = task.align(s_logits.float(), t_logits)
            loss = self.loss(
                task, s_logits, t_logits, weights,
                self.class_balance_weight(inputs, t_logits, idx),
                None if idx is None else inputs.replay.phi(idx))
        if inputs.guard.skip(loss, 'KD'):
            return None
        optim_s.update_params(loss)
        if idx is not None:
            inputs.replay.reprioritize(idx, s_logits, t_logits)
        average_bn_stats(inputs.student)
        return dict(loss_kd=loss.detach(), is_weight_mean=raw_mean.mean())

    def draw(self, inputs: StepInputs):
        """The batch in the models' input space, the teacher's logits when
        the view cache has them (else None), the drawn indices (None for a
        source that does not feed the replay), the normalised IS weights
        and the raw ones (for the log)."""
        n, device, replay = self.batch_size, inputs.device, inputs.replay
        if not inputs.source.feeds_replay:
            weights = torch.ones(n, device=device)
            x = inputs.source.draw_inputs(n, inputs.img_shape, device,
                                          inputs.synthesis)
            return x, None, None, weights, weights
        replay.to_device(device)
        t_logits = None
        if self.view_cache is not None:
            views, t_logits, idx, weights = replay.draw_views(
                n, device, self.augment, lambda v: self.teacher_logits(
                    inputs, inputs.normalize(v)))
        else:
            x01, idx, weights = replay.draw(n)
            views = self.augment(x01.to(device, non_blocking=True))
            if self.mix is not None:
                views, _ = self.mix(views)
        x = inputs.normalize(views)
        return (x, t_logits, idx, weights.to(device),
                replay.last_raw_weights)

    @torch.no_grad()
    def teacher_logits(self, inputs: StepInputs,
                       x: torch.Tensor) -> torch.Tensor:
        """The KD target: the teacher's logits of normalised images, at the
        step's precision, as fp32."""
        with autocast(inputs.device, self.autocast):
            return inputs.task.logits(inputs.teacher, x).float()

    @torch.no_grad()
    def class_balance_weight(self, inputs: StepInputs,
                             t_logits: torch.Tensor,
                             idx: Optional[torch.Tensor]
                             ) -> Optional[torch.Tensor]:
        """Per-sample/pixel KD weights f(ŷ) = min(κ, N/(C·n_c))^η of the
        teacher's class ŷ, rescaled to batch mean 1 (``class_balance`` = η;
        None when off or when there is no buffer to count)."""
        eta = self.class_balance
        if not eta or idx is None:
            return None
        f = inverse_frequency(
            inputs.replay.class_histogram(inputs.num_classes).to(t_logits),
            inputs.kappa, eta)
        weight = f[t_logits.argmax(1)]
        return weight / weight.mean().clamp_min(1e-12)

    @torch.no_grad()
    def recalibrate_bn(self, inputs: StepInputs, num_batches: int = 8,
                       batch_size: Optional[int] = None) -> int:
        """Re-estimate the student's BN running statistics on uniformly
        drawn (augmented) buffer batches: prioritised batches skew them,
        and no IS weight corrects that. Returns the layers recalibrated."""
        replay = inputs.replay
        if len(replay) == 0:
            return 0
        student = unwrap(inputs.student)
        bns = [m for m in student.modules()
               if isinstance(m, nn.modules.batchnorm._BatchNorm)
               and m.track_running_stats]
        momenta = [m.momentum for m in bns]
        mode = student.training
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the batches
        student.train()
        n = batch_size or self.batch_size
        for _ in range(num_batches):
            idx = torch.randint(len(replay), (n, ),
                                device=replay.buffer.device)
            x01 = replay.buffer.get(idx).to(inputs.device)
            with autocast(inputs.device, self.autocast):
                inputs.task.logits(student,
                                   inputs.normalize(self.augment(x01)))
        for m, momentum in zip(bns, momenta):
            m.momentum = momentum
        student.train(mode)
        average_bn_stats(student)
        return len(bns)

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


def average_bn_stats(student: nn.Module) -> None:
    """Mean of the student's BN running statistics over ranks (no-op on one
    process): DDP does not sync them (``broadcast_buffers=False``), and
    scoring buffer entries, validation and checkpoints should see one
    student."""
    if dist.get_world_size() < 2:
        return
    stats = [b for b in unwrap(student).buffers() if b.is_floating_point()]
    if stats:
        dist.all_reduce_params(stats, op='mean')
