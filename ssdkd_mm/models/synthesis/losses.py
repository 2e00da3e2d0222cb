# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""The loss terms the baseline synthesizers share (DeepInversion, CMI, DFQ),
on explicit inputs: BN-statistics matching through forward hooks, image
priors, the masked adversarial term and the augmentations.

Images are in [0, 1] (as SSD-KD's generator and buffer keep them); each
synthesizer takes a ``normalize`` callable that maps them to the teacher's
input (default: identity)."""
from typing import Callable, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

Normalize = Callable[[torch.Tensor], torch.Tensor]


class BNStatistics:
    """Forward hooks on every BatchNorm2d of ``model``: after a forward,
    :meth:`loss` is the sum over layers of ``||μ_batch − μ_run||₂ +
    ||σ²_batch − σ²_run||₂`` (DeepInversion's feature-distribution term),
    with the batch statistics optionally blended with their moving average
    over rounds (``momentum``, Fast-DFKD's ``bn_mmt``; 0 = off)."""

    def __init__(self, model: nn.Module, momentum: float = 0.0,
                 first_multiplier: float = 1.0) -> None:
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f'momentum must be in [0, 1), got {momentum}')
        self.momentum = momentum
        self.first_multiplier = first_multiplier
        self.terms: List[Optional[torch.Tensor]] = []
        self.ema: List[Optional[tuple]] = []
        self.last: List[Optional[tuple]] = []
        self.handles = []
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                i = len(self.terms)
                self.terms.append(None)
                self.ema.append(None)
                self.last.append(None)
                self.handles.append(m.register_forward_hook(
                    self._hook(i)))
        if not self.handles:
            raise ValueError('the model has no BatchNorm2d layer to match')

    def _hook(self, i: int):

        def fn(module, inputs, output):
            x = inputs[0].float()  # matched in fp32 under autocast too
            mean = x.mean(dim=(0, 2, 3))
            var = x.permute(1, 0, 2, 3).flatten(1).var(1, unbiased=False)
            self.last[i] = (mean.detach(), var.detach())
            if self.momentum and self.ema[i] is not None:
                m_ema, v_ema = self.ema[i]
                mean = self.momentum * m_ema + (1 - self.momentum) * mean
                var = self.momentum * v_ema + (1 - self.momentum) * var
            self.terms[i] = (torch.norm(module.running_mean - mean, 2) +
                             torch.norm(module.running_var - var, 2))

        return fn

    def loss(self) -> torch.Tensor:
        terms = [t for t in self.terms if t is not None]
        if not terms:
            raise RuntimeError('no forward pass since the hooks were set')
        return self.first_multiplier * terms[0] + sum(terms[1:])

    def end_round(self) -> None:
        """Fold the last batch statistics into the moving average."""
        if not self.momentum:
            return
        for i, last in enumerate(self.last):
            if last is None:
                continue
            if self.ema[i] is None:
                self.ema[i] = last
            else:
                self.ema[i] = tuple(self.momentum * e + (1 - self.momentum) * x
                                    for e, x in zip(self.ema[i], last))

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []


def image_priors(x: torch.Tensor):
    """Total-variation priors of DeepInversion: (l1 TV, l2 TV) over the
    horizontal, vertical and both diagonal neighbour differences."""
    diffs = [x[:, :, :, :-1] - x[:, :, :, 1:],
             x[:, :, :-1, :] - x[:, :, 1:, :],
             x[:, :, 1:, :-1] - x[:, :, :-1, 1:],
             x[:, :, :-1, :-1] - x[:, :, 1:, 1:]]
    tv_l1 = sum(d.abs().mean() for d in diffs)
    tv_l2 = sum(torch.norm(d) for d in diffs)
    return tv_l1, tv_l2


def adversarial(s_logits: torch.Tensor, t_logits: torch.Tensor,
                T: float = 1.0) -> torch.Tensor:
    """Fast-DFKD / CMI's decision-adversarial term: minus the student-teacher
    KL divergence on the images where both agree on the class (so that
    minimising it moves the images towards disagreement)."""
    agree = (s_logits.argmax(1) == t_logits.argmax(1)).float()
    kl = F.kl_div(F.log_softmax(s_logits / T, 1), F.softmax(t_logits / T, 1),
                  reduction='none').sum(1)
    return -(kl * agree).mean()


def js_divergence(s_logits: torch.Tensor, t_logits: torch.Tensor,
                  T: float = 3.0) -> torch.Tensor:
    """Jensen-Shannon divergence between the softened student and teacher
    distributions (DeepInversion's competition term in the harness, T 3)."""
    p = F.softmax(s_logits / T, 1)
    q = F.softmax(t_logits / T, 1)
    m = ((p + q) / 2).clamp_min(1e-12).log()
    return (F.kl_div(m, p, reduction='batchmean') +
            F.kl_div(m, q, reduction='batchmean')) / 2


def jitter_flip(x: torch.Tensor, jitter: int = 2,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """DeepInversion's augmentation: a random roll of up to ``jitter``
    pixels in each direction and a random horizontal flip (whole batch)."""
    if jitter:
        dx, dy = torch.randint(-jitter, jitter + 1, (2, ),
                               generator=generator).tolist()
        x = torch.roll(x, shifts=(dx, dy), dims=(2, 3))
    if torch.rand(1, generator=generator).item() < 0.5:
        x = torch.flip(x, dims=(3, ))
    return x


def crop_flip(x: torch.Tensor, padding: int = 4) -> torch.Tensor:
    """Per-image random crop after zero padding and random horizontal flip
    (Fast-DFKD / CMI's global view)."""
    n, _, h, w = x.shape
    if padding:
        x = F.pad(x, [padding] * 4)
        ix = torch.randint(0, 2 * padding + 1, (n, 2))
        x = torch.stack([img[:, a:a + h, b:b + w]
                         for img, (a, b) in zip(x, ix.tolist())])
    flip = torch.rand(n, device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def resized_crop_flip(x: torch.Tensor, scale=(0.25, 1.0)) -> torch.Tensor:
    """Per-image random resized crop (area fraction in ``scale``, square)
    back to the input size, and a random horizontal flip (CMI's local
    view)."""
    n, _, h, w = x.shape
    out = []
    for img in x:
        s = float(torch.empty(1).uniform_(*scale))
        ch, cw = max(1, round(h * s ** 0.5)), max(1, round(w * s ** 0.5))
        a = int(torch.randint(0, h - ch + 1, (1, )))
        b = int(torch.randint(0, w - cw + 1, (1, )))
        out.append(F.interpolate(img[None, :, a:a + ch, b:b + cw],
                                 size=(h, w), mode='bilinear',
                                 align_corners=False)[0])
    x = torch.stack(out)
    flip = torch.rand(n, device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def identity(x: torch.Tensor) -> torch.Tensor:
    return x
