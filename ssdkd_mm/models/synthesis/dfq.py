# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""DFQ (Choi et al., CVPR-W 2020, "Data-free network quantization with
adversarial knowledge distillation") as one self-contained synthesizer: a
persistent generator trained, ``iterations`` steps per call, to match the
teacher's BN statistics, to be classified confidently by the teacher
(cross-entropy to its own arg-max) and to make the student disagree with
the teacher (adversarial term).

Fast-DFKD's harness runs it through its generative branch (``datafree_kd.py``
``--method dfq``: generator nz 256, Adam lr_g 1e-3 betas (0.5, 0.999),
g_steps 1 generator step per epoch of 400 student steps, each student step
on a fresh generator batch); it ships no script and its
loss weights default to 0, so the weights here (bn 1, oh 1, adv 1) are ours,
a named deviation. The inputs are explicit: the models and the settings
(:meth:`DFQSynthesizer.invert`); as the algorithm's image source
(``model.inversion=dict(type='DFQSynthesizer')``) a round trains the
shared generator and nothing goes into the replay: every student step
draws a fresh generator batch (:meth:`draw_inputs`)."""
import copy
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...registry import SYNTHESIZERS
from ...utils.modules import first_tensor
from .base import SynthesisInputs
from .explicit import ExplicitRoundSynthesizer
from .losses import BNStatistics, Normalize, identity


@SYNTHESIZERS.register_module()
class DFQSynthesizer(ExplicitRoundSynthesizer):
    """Generator with BN-statistics, one-hot and adversarial terms.

    Args:
        generator (nn.Module, optional): z (``nz``) → images in [0, 1]; as
            an image source, the algorithm's generator (latent size
            ``nz``).
        nz (int): Latent size. Defaults to 256.
        iterations (int): Generator steps per call. Defaults to 1.
        lr_g (float): Adam lr of the generator. Defaults to 1e-3.
        bn, oh, adv (float): Weights. Default 1 each (ours, see above).
        T (float): Temperature of the adversarial KL. Defaults to 1 (the
            harness's KLDiv default).
        normalize (callable): [0, 1] images → the models' input.
        synth_batch_size (int): Images per generator step as an image
            source. Defaults to 256.
        autocast (str, optional): Precision of the generator steps' forwards
            as an image source. Defaults to None (fp32).
    """

    feeds_replay = False

    def __init__(self,
                 generator: Optional[nn.Module] = None,
                 nz: int = 256,
                 iterations: int = 1,
                 lr_g: float = 1e-3,
                 bn: float = 1.0,
                 oh: float = 1.0,
                 adv: float = 1.0,
                 T: float = 1.0,
                 normalize: Optional[Normalize] = None,
                 synth_batch_size: int = 256,
                 autocast: Optional[str] = None) -> None:
        super().__init__(synth_batch_size, autocast)
        if iterations < 1 or lr_g <= 0:
            raise ValueError('iterations >= 1 and lr_g > 0 are needed')
        self.generator = self.optimizer = None
        self.nz = nz
        self.iterations = iterations
        self.lr_g = lr_g
        self.weights = dict(bn=bn, oh=oh, adv=adv)
        self.T = T
        self.normalize = normalize or identity
        self.rounds = 0
        self.last_losses: List[float] = []
        self._pending: Optional[Dict] = None  # state before the generator
        if generator is not None:
            self._bind(generator)

    def _bind(self, generator: nn.Module) -> None:
        """Own ``generator`` with a fresh Adam (betas (0.5, 0.999), as the
        harness); a state restored before is applied now."""
        if getattr(generator, 'latent_dim', self.nz) != self.nz:
            raise ValueError(
                f'inversion.nz ({self.nz}) differs from the generator\'s '
                f'latent size ({generator.latent_dim}); set model.generator.'
                'nz or model.inversion.nz so that they agree.')
        self.generator = generator
        self.optimizer = torch.optim.Adam(generator.parameters(), self.lr_g,
                                          betas=(0.5, 0.999))
        if self._pending is not None:
            self.load_state_dict(self._pending)

    def synthesize(self, inputs: SynthesisInputs, optim_g=None) -> Dict:
        """One round as the algorithm's image source: ``iterations``
        steps of the shared generator with its own Adam (``optim_g`` is
        unused); the adversarial term only when ``inputs.adversarial``. No
        images: the student draws fresh ones (:meth:`draw_inputs`)."""
        if self.generator is not inputs.generator:
            self._bind(inputs.generator)
        self.normalize = inputs.normalize
        with self.round_context(inputs):
            self.train_generator(
                inputs.teacher,
                inputs.student if inputs.adversarial else None,
                self.batch_size, inputs.device)
        return dict(log=self.round_log('dfq', self.last_losses))

    @torch.no_grad()
    def draw_inputs(self, n: int, img_shape: Tuple[int, ...], device,
                    inputs=None) -> torch.Tensor:
        """A fresh batch of ``n`` generator images in the models' input
        space (the harness's ``sample()``: no augmentation); ``inputs``
        (the step's :class:`SynthesisInputs`, with ``generator`` and
        ``normalize``) binds the shared generator when no round ran yet
        (after a resume)."""
        generator = getattr(inputs, 'generator', None)
        if generator is not None and self.generator is not generator:
            self._bind(generator)
        normalize = inputs.normalize if inputs is not None else \
            self.normalize
        x01 = self.generator(torch.randn(n, self.nz, device=device))
        return normalize(x01.float())

    def loss(self, x: torch.Tensor, teacher: nn.Module, bn_stats,
             student: Optional[nn.Module]) -> torch.Tensor:
        inputs = self.normalize(x)
        t_out = first_tensor(teacher(inputs))
        w = self.weights
        loss = w['bn'] * bn_stats.loss() + w['oh'] * F.cross_entropy(
            t_out, t_out.argmax(1))
        if student is not None and w['adv']:
            s_out = first_tensor(student(inputs))
            kl = F.kl_div(F.log_softmax(s_out / self.T, 1),
                          F.softmax(t_out / self.T, 1),
                          reduction='batchmean')
            loss = loss - w['adv'] * kl
        return loss

    def invert(self, teacher: nn.Module,
               student: Optional[nn.Module] = None,
               batch_size: int = 256,
               device=None) -> torch.Tensor:
        """``iterations`` generator steps, then a fresh batch of images in
        [0, 1] (no targets: the student learns the teacher's outputs)."""
        device = device or next(teacher.parameters()).device
        self.train_generator(teacher, student, batch_size, device)
        with torch.no_grad():
            return self.generator(torch.randn(batch_size, self.nz,
                                              device=device))

    def train_generator(self, teacher: nn.Module,
                        student: Optional[nn.Module], batch_size: int,
                        device) -> None:
        """``iterations`` generator steps (the models in eval mode)."""
        device = device or next(teacher.parameters()).device
        teacher.eval()
        if student is not None:
            student.eval()
        self.generator.train()
        bn_stats = BNStatistics(teacher)
        self.last_losses = []
        params = list(self.generator.parameters())
        try:
            for _ in range(self.iterations):
                z = torch.randn(batch_size, self.nz, device=device)
                loss = self.loss(self.generator(z), teacher, bn_stats,
                                 student)
                self.last_losses.append(float(loss.detach()))
                grads = torch.autograd.grad(loss, params)
                for p, g in zip(params, grads):
                    p.grad = g
                self.optimizer.step()
        finally:
            bn_stats.remove()
        self.rounds += 1

    def state_dict(self) -> Dict:
        if self.generator is None:  # nothing ran since a restore
            return dict(self._pending or dict(rounds=self.rounds))
        return dict(rounds=self.rounds,
                    generator=self.generator.state_dict(),
                    optimizer=self.optimizer.state_dict())

    def load_state_dict(self, state: Dict) -> None:
        self.rounds = int(state['rounds'])
        if self.generator is None:  # applied once the generator is given
            self._pending = state
            return
        self._pending = None
        if 'generator' in state:
            self.generator.load_state_dict(state['generator'])
            # a copy: Adam steps its restored tensors in place
            self.optimizer.load_state_dict(copy.deepcopy(state['optimizer']))


__all__ = ['DFQSynthesizer']
