# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""DeepInversion (Yin et al., CVPR 2020) as one self-contained synthesizer:
each round optimises a batch of pixels directly, from noise, to match the
teacher's BatchNorm statistics and a target class, with image priors and
DeepInversion's jitter / flip, optionally against a student (the "adaptive"
competition term: minus the Jensen-Shannon divergence at T 3, and minus
1e-3 × the student's own BN-statistics term, as the harness does).

The defaults are DeepInversion as run in Fast-DFKD's harness
(zju-vipa/Fast-Datafree ``scripts/deepinv_cifar.sh``: lr_g 0.1, bn 10,
oh 1, adv 1, tv = l2 = 0) with the tables' 2,000 iterations
("DeepInv-2k"; the script itself runs 1,000). The script's "tuned fast
version" is ``iterations=10, lr_g=1.0``. The inputs are explicit: the
models and the settings, never an algorithm object (:meth:`invert`);
as the algorithm's image source (``model.inversion=dict(type=
'DeepInversionSynthesizer')``) :meth:`synthesize` takes them from its
:class:`~.base.SynthesisInputs`."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...registry import SYNTHESIZERS
from ...utils.modules import first_tensor
from .base import SynthesisInputs
from .explicit import ExplicitRoundSynthesizer
from .losses import (BNStatistics, Normalize, identity, image_priors,
                     jitter_flip, js_divergence)


@SYNTHESIZERS.register_module()
class DeepInversionSynthesizer(ExplicitRoundSynthesizer):
    """Pixels optimised per batch.

    Args:
        num_classes (int, optional): Classes of the teacher (random
            targets); as an image source, the algorithm's.
        img_shape (tuple, optional): ``(C, H, W)`` of the images; as an
            image source, the generator's; else defaults to (3, 32, 32).
        iterations (int): Optimisation steps per batch. Defaults to 2000.
        lr_g (float): Adam learning rate on the pixels. Defaults to 0.1.
        bn (float): BN-statistics weight. Defaults to 10.
        oh (float): Cross-entropy (one-hot) weight. Defaults to 1.
        adv (float): Adversarial (student-teacher disagreement) weight, used
            when a student is given. Defaults to 1.
        tv_l1, tv_l2, l2 (float): Image-prior weights (TV l1, TV l2, pixel
            l2). Default 0, as the harness runs it.
        jitter (int, optional): Random roll in pixels; default an eighth of
            the side (4 on CIFAR), as the harness.
        flip (bool): Random horizontal flip. Defaults to True.
        first_bn_multiplier (float): Weight of the first BN layer's term
            (NVlabs' ``first_bn_multiplier``; 1 in the harness).
        betas (tuple): Adam betas. Defaults to ``(0.5, 0.99)`` (harness).
        student_bn (float): Weight of minus the student's BN-statistics
            term when a student is given. Defaults to 1e-3 (harness).
        normalize (callable): [0, 1] images → the teacher's input.
        synth_batch_size (int): Images per round as an image source.
            Defaults to 256 (the harness's ``batch_size``).
        autocast (str, optional): Precision of the forwards as an image
            source. Defaults to None (fp32).
    """

    def __init__(self,
                 num_classes: Optional[int] = None,
                 img_shape: Optional[Tuple[int, int, int]] = None,
                 iterations: int = 2000,
                 lr_g: float = 0.1,
                 bn: float = 10.0,
                 oh: float = 1.0,
                 adv: float = 1.0,
                 tv_l1: float = 0.0,
                 tv_l2: float = 0.0,
                 l2: float = 0.0,
                 jitter: Optional[int] = None,
                 flip: bool = True,
                 first_bn_multiplier: float = 1.0,
                 betas: Tuple[float, float] = (0.5, 0.99),
                 student_bn: float = 1e-3,
                 normalize: Optional[Normalize] = None,
                 synth_batch_size: int = 256,
                 autocast: Optional[str] = None) -> None:
        super().__init__(synth_batch_size, autocast)
        if iterations < 1 or lr_g <= 0 or (num_classes is not None
                                           and num_classes < 1):
            raise ValueError('iterations >= 1, lr_g > 0 and num_classes >= 1 '
                             'are needed')
        self.num_classes = num_classes
        self.img_shape = tuple(img_shape or (3, 32, 32))
        self.iterations = iterations
        self.lr_g = lr_g
        self.weights = dict(bn=bn, oh=oh, adv=adv, tv_l1=tv_l1, tv_l2=tv_l2,
                            l2=l2)
        self._jitter = jitter
        self.student_bn = student_bn
        self.flip = flip
        self.first_bn_multiplier = first_bn_multiplier
        self.betas = tuple(betas)
        self.normalize = normalize or identity
        self.rounds = 0
        #: the loss of every step of the last round (for logs and tests)
        self.last_losses: List[float] = []

    @property
    def jitter(self) -> int:
        """The random roll: an eighth of the side unless given."""
        if self._jitter is not None:
            return self._jitter
        return self.img_shape[-1] // 8

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        if not self.flip:
            return torch.roll(x, shifts=tuple(torch.randint(
                -self.jitter, self.jitter + 1, (2, )).tolist()), dims=(2, 3))
        return jitter_flip(x, self.jitter)

    def loss_terms(self, x: torch.Tensor, targets: torch.Tensor,
                   teacher: nn.Module, bn_stats: BNStatistics,
                   student: Optional[nn.Module] = None,
                   s_bn_stats: Optional[BNStatistics] = None
                   ) -> Dict[str, torch.Tensor]:
        """The weighted terms for the images ``x`` (in [0, 1])."""
        inputs = self.normalize(self._augment(x))
        t_out = first_tensor(teacher(inputs))
        w = self.weights
        terms = dict(bn=w['bn'] * bn_stats.loss(),
                     oh=w['oh'] * F.cross_entropy(t_out, targets))
        if student is not None and w['adv']:
            s_out = first_tensor(student(inputs))
            terms['adv'] = -w['adv'] * js_divergence(s_out, t_out, T=3.0)
            if s_bn_stats is not None and self.student_bn:
                terms['bn'] = terms['bn'] - w['bn'] * self.student_bn * \
                    s_bn_stats.loss()
        if w['tv_l1'] or w['tv_l2']:
            tv1, tv2 = image_priors(x)
            terms['tv'] = w['tv_l1'] * tv1 + w['tv_l2'] * tv2
        if w['l2']:
            terms['l2'] = w['l2'] * torch.norm(x.flatten(1), dim=1).mean()
        return terms

    def synthesize(self, inputs: SynthesisInputs, optim_g=None) -> Dict:
        """One round as the algorithm's image source: a batch of
        ``synth_batch_size`` for the replay; the student competes only when
        ``inputs.adversarial``. ``optim_g`` is unused (no generator)."""
        self.num_classes = inputs.num_classes
        self.img_shape = tuple(inputs.generator.img_shape)
        self.normalize = inputs.normalize
        with self.round_context(inputs):
            x, _ = self.invert(
                inputs.teacher,
                inputs.student if inputs.adversarial else None,
                self.batch_size, device=inputs.device)
        return dict(images=x.float(),
                    log=self.round_log('deepinv', self.last_losses))

    def invert(self, teacher: nn.Module,
               student: Optional[nn.Module] = None,
               batch_size: int = 256,
               targets: Optional[torch.Tensor] = None,
               device=None) -> Tuple[torch.Tensor, torch.Tensor]:
        """One batch: ``(images in [0, 1], targets)``; the images of the
        step with the lowest loss. The models are put in eval mode and left
        so; their parameters get no gradient."""
        device = device or next(teacher.parameters()).device
        teacher.eval()
        if student is not None:
            student.eval()
        if targets is None:
            targets = torch.randint(0, self.num_classes, (batch_size, ),
                                    device=device)
        targets = targets.to(device)
        x = torch.rand(len(targets), *self.img_shape, device=device,
                       requires_grad=True)
        opt = torch.optim.Adam([x], lr=self.lr_g, betas=self.betas)
        bn_stats = BNStatistics(teacher,
                                first_multiplier=self.first_bn_multiplier)
        s_bn_stats = (BNStatistics(student) if student is not None
                      and self.weights['adv'] and self.student_bn else None)
        best, best_loss = None, float('inf')
        self.last_losses = []
        try:
            for _ in range(self.iterations):
                loss = sum(self.loss_terms(x, targets, teacher, bn_stats,
                                           student, s_bn_stats).values())
                value = float(loss.detach())
                self.last_losses.append(value)
                if value < best_loss:
                    best_loss, best = value, x.detach().clone()
                grad, = torch.autograd.grad(loss, [x])
                x.grad = grad
                opt.step()
                with torch.no_grad():
                    x.clamp_(0, 1)
        finally:
            bn_stats.remove()
            if s_bn_stats is not None:
                s_bn_stats.remove()
        self.rounds += 1
        return best.clamp(0, 1), targets

    def state_dict(self) -> Dict:
        """Pixels start from noise every round: only the count persists."""
        return dict(rounds=self.rounds)

    def load_state_dict(self, state: Dict) -> None:
        self.rounds = int(state['rounds'])


__all__ = ['DeepInversionSynthesizer']
