# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""SSD-KD's data inversion round: Fast-DFKD's meta-generator (FOMAML) with
φ-weighted losses, in one place."""
import contextlib
from typing import Dict, Optional, Sequence

import torch
import torch.nn as nn
from mmengine import dist
from mmengine.optim import OptimWrapper

from ...registry import SYNTHESIZERS
from ..losses import BNStatisticsLoss
from ..precision import autocast, check_autocast
from .base import BaseSynthesizer, SynthesisInputs


@SYNTHESIZERS.register_module()
class InversionSynthesizer(BaseSynthesizer):
    """One data-inversion round per call of :meth:`synthesize`.

    A clone of the generator (``meta``) and the latents z are trained for
    ``g_steps`` inner Adam steps against the frozen teacher with
    λ_bn·BN-statistics + λ_oh·φ-weighted CE to sampled classes
    + λ_adv·(−φ-weighted masked KL to the student); the clone's gradients
    are the shared generator's first-order meta-gradient (FOMAML), applied
    once per round. The round's lowest-loss batch is returned for the replay
    buffer, and the BN-statistics EMA moves. A NaN/Inf step is skipped.

    Every round gets its models, task adapter, φ, augmentation,
    normalisation and NaN guard as one :class:`SynthesisInputs`; the
    BN-statistics hooks on the teacher are this synthesizer's own.

    Args:
        g_steps (int): Inner generator steps per round (Fast-k's k).
            Defaults to 2.
        synth_batch_size (int): Images per round. Defaults to 256.
        lr_g (float): Inner Adam lr of the generator clone. Defaults to 5e-3.
        lr_z (float): Inner Adam lr of the latents. Defaults to 0.015.
        meta (bool): FOMAML meta-generator (False: train the generator
            directly). Defaults to True.
        bn_weight (float): λ_bn. Defaults to 10.
        oh_weight (float): λ_oh. Defaults to 0.5.
        adv_weight (float): λ_adv. Defaults to 1.33.
        bn_momentum (float): BN-statistics EMA momentum in [0, 1).
            Defaults to 0.9.
        adv_tau (float): Temperature of the adversarial KL. Defaults to 1.
        targets (str): ``'uniform'`` classes or ``'balanced'`` (inverse
            buffer histogram). Defaults to ``'uniform'``.
        autocast (str, optional): ``None`` (fp32), ``'bfloat16'`` or
            ``'float16'`` for the forwards. Defaults to None.
        phi_on (Sequence[str]): Loss terms weighted per sample by φ, of
            ``'ce'`` and ``'adv'``. Defaults to ``('ce', 'adv')``.
    """

    def __init__(self,
                 g_steps: int = 2,
                 synth_batch_size: int = 256,
                 lr_g: float = 5e-3,
                 lr_z: float = 0.015,
                 meta: bool = True,
                 bn_weight: float = 10.0,
                 oh_weight: float = 0.5,
                 adv_weight: float = 1.33,
                 bn_momentum: float = 0.9,
                 adv_tau: float = 1.0,
                 targets: str = 'uniform',
                 autocast: Optional[str] = None,
                 phi_on: Sequence[str] = ('ce', 'adv')) -> None:
        if g_steps < 1 or synth_batch_size < 1:
            raise ValueError('g_steps and synth_batch_size must be >= 1')
        if targets not in ('uniform', 'balanced'):
            raise ValueError("targets must be 'uniform' or 'balanced', got "
                             f'{targets!r}')
        check_autocast(autocast, 'autocast')
        if not adv_tau > 0:
            raise ValueError(f'adv_tau must be > 0, got {adv_tau!r}')
        self.g_steps = g_steps
        self.batch_size, self.lr_g, self.lr_z = synth_batch_size, lr_g, lr_z
        self.meta = meta
        self.bn_weight, self.oh_weight = bn_weight, oh_weight
        self.adv_weight, self.adv_tau = adv_weight, adv_tau
        self.targets, self.autocast = targets, autocast
        self.phi_on = tuple(phi_on)
        self.bn_loss = BNStatisticsLoss(bn_momentum)

    def sample_classes(self, n: int, ref_counts: Optional[torch.Tensor],
                       num_classes: int,
                       device: torch.device) -> torch.Tensor:
        """The round's target classes: uniform, or ∝ 1/(n_c + 1) of the
        buffer's class counts with ``targets='balanced'``."""
        if self.targets == 'balanced' and ref_counts is not None:
            probs = 1.0 / (ref_counts + 1.0)
            return torch.multinomial(probs / probs.sum(), n, replacement=True)
        return torch.randint(0, num_classes, (n, ), device=device)

    def attach(self, teacher: nn.Module) -> int:
        """(Re-)attach the BN-statistics hooks to ``teacher``'s BN layers;
        returns how many were hooked."""
        return self.bn_loss.attach(teacher)

    def detach(self) -> None:
        self.bn_loss.detach()

    def state_dict(self) -> dict:
        return dict(bn_loss=self.bn_loss.state_dict())

    def load_state_dict(self, state: dict) -> None:
        if state.get('bn_loss') is not None:  # None: a noise run's state
            self.bn_loss.load_state_dict(state['bn_loss'])

    def synthesize(self, inputs: SynthesisInputs,
                   optim_g: OptimWrapper) -> Optional[Dict]:
        """One round (``inputs.ref_counts``: the buffer's class counts,
        None when empty). Returns ``dict(images=…, log=…)`` with the best
        batch in [0, 1], or None when every step was skipped (no update at
        all)."""
        teacher, student = inputs.teacher, inputs.student
        generator, task = inputs.generator, inputs.task
        ref_counts, guard = inputs.ref_counts, inputs.guard
        if not self.bn_loss.is_attached_to(teacher):
            self.attach(teacher)
        n, device = self.batch_size, inputs.device
        z = torch.randn(n, generator.latent_dim, device=device,
                        requires_grad=True)
        classes = self.sample_classes(n, ref_counts, inputs.num_classes,
                                      device)
        fast_g = generator.clone() if self.meta else generator
        params = [dict(params=[z], lr=self.lr_z)]
        if self.meta:
            params.append(dict(params=fast_g.parameters(), lr=self.lr_g))
        inner = torch.optim.Adam(params, betas=(0.5, 0.999))
        optim_g.zero_grad()
        round_targets, best_loss, best_x = None, float('inf'), None
        # The adversarial term back-propagates through the student: freeze
        # it so no gradient of the generator step reaches the student.
        with _frozen(student):
            for _ in range(self.g_steps):
                x01 = fast_g(z)
                view = inputs.augment.new_view(device)
                x = inputs.normalize(inputs.augment(x01, view))
                with self.bn_loss.enabled(), autocast(device, self.autocast):
                    t_logits = task.logits(teacher, x).float()
                    loss_bn = self.bn_loss.loss().float()
                if round_targets is None:  # one per round (dense: a map)
                    round_targets = task.round_targets(
                        classes, x01, lambda v: self._teacher_logits(
                            inputs, v))
                targets = task.view_targets(
                    round_targets, inputs.augment, view, x01.shape[2:],
                    inputs.num_classes)
                unc, hist = task.phi_statistics(t_logits, targets)
                phi = inputs.modulating(unc, hist, ref_counts)
                w_ce = phi if 'ce' in self.phi_on else 1.0
                loss_oh = (w_ce * task.ce(t_logits, targets)).mean()
                loss_adv = t_logits.new_zeros(())
                if inputs.adversarial and self.adv_weight > 0:
                    with autocast(device, self.autocast):
                        s_logits = task.logits(student, x).float()
                    s_logits, t_al = task.align(s_logits, t_logits)
                    kl = task.masked_kl(s_logits, t_al, self.adv_tau)
                    w_adv = phi if 'adv' in self.phi_on else 1.0
                    loss_adv = -(w_adv * kl).mean()
                loss = (self.bn_weight * loss_bn + self.oh_weight * loss_oh +
                        self.adv_weight * loss_adv)
                if guard.skip(loss, 'inversion'):
                    continue
                inner.zero_grad()
                loss.backward()
                loss_value = loss.item()
                if loss_value < best_loss:  # NaN never compares smaller
                    best_loss, best_x = loss_value, x01.detach()
                if self.meta:
                    _accumulate_meta_grad(generator, fast_g)
                    inner.step()
                else:
                    inner.step()
                    _average_grads(generator)
                    optim_g.step()
                    optim_g.zero_grad()
            if best_x is None:
                optim_g.zero_grad()
                return None
            if self.meta:
                _average_grads(generator)
                optim_g.step()
                optim_g.zero_grad()
            self.bn_loss.update_momentum()
            self._average_bn_ema()
        return dict(images=best_x, log=dict(
            loss_bn=loss_bn.detach(), loss_oh=loss_oh.detach(),
            loss_adv=loss_adv.detach()))

    @torch.no_grad()
    def _teacher_logits(self, inputs: SynthesisInputs,
                        x01: torch.Tensor) -> torch.Tensor:
        """The teacher on un-augmented images (BN hooks off: no BN loss)."""
        with autocast(inputs.device, self.autocast):
            return inputs.task.logits(inputs.teacher, inputs.normalize(
                x01.detach())).float()

    def _average_bn_ema(self) -> None:
        """Mean of the BN-statistics EMAs over ranks (no-op on one process):
        every rank then matches the statistics of the global synthetic batch
        and checkpoints describe all ranks."""
        if dist.get_world_size() < 2:
            return
        for ema in self.bn_loss.ema:
            if ema is not None:
                for t in ema:
                    dist.all_reduce(t, op='mean')


@contextlib.contextmanager
def _frozen(student: nn.Module):
    """The student in eval mode without parameter gradients, restored on
    exit."""
    mode = student.training
    grads = [p.requires_grad for p in student.parameters()]
    student.eval()
    student.requires_grad_(False)
    try:
        yield
    finally:
        for p, g in zip(student.parameters(), grads):
            p.requires_grad_(g)
        student.train(mode)


def _accumulate_meta_grad(generator: nn.Module, fast_g: nn.Module) -> None:
    """FOMAML: the clone's gradient is the shared generator's
    meta-gradient, accumulated over the inner steps."""
    for p, fp in zip(generator.parameters(), fast_g.parameters()):
        if fp.grad is None:
            continue
        if p.grad is None:
            p.grad = fp.grad.detach().clone()
        else:
            p.grad.add_(fp.grad.detach())


def _average_grads(generator: nn.Module) -> None:
    """Mean of the meta-gradient over ranks (no-op on one process)."""
    if dist.get_world_size() < 2:
        return
    for p in generator.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad, op='mean')
