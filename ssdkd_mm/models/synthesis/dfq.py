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
a named deviation. The inputs are explicit: the models and the settings."""
from typing import Dict, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...utils.modules import first_tensor
from .losses import BNStatistics, Normalize, identity


class DFQSynthesizer:
    """Generator with BN-statistics, one-hot and adversarial terms.

    Args:
        generator (nn.Module): z (``nz``) → images in [0, 1].
        nz (int): Latent size. Defaults to 256.
        iterations (int): Generator steps per call. Defaults to 1.
        lr_g (float): Adam lr of the generator. Defaults to 1e-3.
        bn, oh, adv (float): Weights. Default 1 each (ours, see above).
        T (float): Temperature of the adversarial KL. Defaults to 1 (the
            harness's KLDiv default).
        normalize (callable): [0, 1] images → the models' input.
    """

    def __init__(self,
                 generator: nn.Module,
                 nz: int = 256,
                 iterations: int = 1,
                 lr_g: float = 1e-3,
                 bn: float = 1.0,
                 oh: float = 1.0,
                 adv: float = 1.0,
                 T: float = 1.0,
                 normalize: Optional[Normalize] = None) -> None:
        if iterations < 1 or lr_g <= 0:
            raise ValueError('iterations >= 1 and lr_g > 0 are needed')
        self.generator = generator
        self.nz = nz
        self.iterations = iterations
        self.lr_g = lr_g
        self.weights = dict(bn=bn, oh=oh, adv=adv)
        self.T = T
        self.normalize = normalize or identity
        self.optimizer = torch.optim.Adam(generator.parameters(), lr_g,
                                          betas=(0.5, 0.999))
        self.rounds = 0
        self.last_losses: List[float] = []

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

    def synthesize(self, teacher: nn.Module,
                   student: Optional[nn.Module] = None,
                   batch_size: int = 256,
                   device=None) -> torch.Tensor:
        """``iterations`` generator steps, then a fresh batch of images in
        [0, 1] (no targets: the student learns the teacher's outputs)."""
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
                self.last_losses.append(float(loss))
                grads = torch.autograd.grad(loss, params)
                for p, g in zip(params, grads):
                    p.grad = g
                self.optimizer.step()
        finally:
            bn_stats.remove()
        self.rounds += 1
        with torch.no_grad():
            return self.generator(torch.randn(batch_size, self.nz,
                                              device=device))

    def state_dict(self) -> Dict:
        return dict(rounds=self.rounds,
                    generator=self.generator.state_dict(),
                    optimizer=self.optimizer.state_dict())

    def load_state_dict(self, state: Dict) -> None:
        self.rounds = int(state['rounds'])
        self.generator.load_state_dict(state['generator'])
        self.optimizer.load_state_dict(state['optimizer'])


__all__ = ['DFQSynthesizer']
