# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""SSD-KD's modulating function φ = φ_div × φ_diff (diversity × difficulty)
and the statistics of the teacher it is computed from."""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

DIVERSITY_FORMS = ('inverse_freq', 'literal', 'none')


def one_minus_p(logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """1 − p(label) along dim 1, in log space (exact for confident
    predictions); ``label`` has the shape of ``logits`` without dim 1."""
    others = logits.scatter(1, label.unsqueeze(1), float('-inf'))
    return (others.logsumexp(1) - logits.logsumexp(1)).exp()


def phi_statistics(teacher_logits: torch.Tensor, label: torch.Tensor
                   ) -> Tuple[torch.Tensor, torch.Tensor]:
    """φ's inputs: 1 − teacher confidence in ``label`` (N,) and the class
    histogram (N, C), both averaged over pixels for dense (N, C, h, w)
    logits with (N, h, w) labels."""
    logits = teacher_logits.detach().float()
    unc = one_minus_p(logits, label)
    hist = F.one_hot(label, logits.shape[1])
    if unc.dim() > 1:
        return unc.flatten(1).mean(1), hist.flatten(1, -2).to(
            logits.dtype).mean(1)
    return unc, hist.to(logits.dtype)


def inverse_frequency(class_counts: torch.Tensor, kappa: float,
                      eta: float) -> torch.Tensor:
    """f(c) = min(κ, N / (C·n_c))^η for every class c, from the (C,) counts
    n_c (N their sum)."""
    n_total = class_counts.sum().clamp_min(1.0)
    ratio = n_total / (class_counts.numel() * class_counts.clamp_min(1e-6))
    return ratio.clamp(max=kappa).pow(eta)


class ModulatingFunction:
    """φ(x) = φ_div(x) · φ_diff(x), computed from the teacher only, detached.

    * difficulty (focal-style): φ_diff = (1 − conf(x))^γ, where conf is the
      teacher's probability of the sample's class: the sampled target class
      while inverting (a detached focal factor), the predicted class when
      scoring buffer entries (mean over pixels for segmentation).
    * diversity, per predicted class c with count n_c out of N samples over
      (replay buffer ∪ current batch) and C classes:
      ``'inverse_freq'``: f(c) = min(κ, N / (C·n_c))^η;
      ``'literal'``: f(c) = 1 − n_c / N; ``'none'``: f(c) = 1.
      A sample's φ_div is Σ_c h_c·f(c), with h its class histogram (one-hot for
      classification, pixel-class frequencies for segmentation).

    With ``normalize`` φ used as a loss weight is rescaled to mean 1 over the
    batch, so the loss weights inherited from Fast-DFKD keep their scale;
    φ stored with buffer entries is never normalised, so priorities of
    different synthesis rounds stay comparable.

    Args:
        gamma (float): γ, difficulty exponent; 0 disables difficulty.
            Defaults to 2.0.
        diversity (str): One of ``'inverse_freq'``, ``'literal'``, ``'none'``.
            Defaults to ``'inverse_freq'``.
        kappa (float): κ, cap of the inverse-frequency factor. Defaults to 5.
        eta (float): η, exponent of the inverse-frequency factor.
            Defaults to 1.
        normalize (bool): Rescale φ to batch mean 1. Defaults to True.
    """

    def __init__(self,
                 gamma: float = 2.0,
                 diversity: str = 'inverse_freq',
                 kappa: float = 5.0,
                 eta: float = 1.0,
                 normalize: bool = True) -> None:
        if gamma < 0:
            raise ValueError(f'modulating.gamma must be >= 0, got {gamma}')
        if diversity not in DIVERSITY_FORMS:
            raise ValueError(f'modulating.diversity must be one of '
                             f'{DIVERSITY_FORMS}, got {diversity!r}')
        if kappa <= 0 or eta < 0:
            raise ValueError('modulating.kappa must be > 0 and modulating.eta '
                             f'>= 0, got kappa={kappa}, eta={eta}')
        self.gamma, self.diversity = gamma, diversity
        self.kappa, self.eta, self.normalize = kappa, eta, normalize

    @property
    def is_identity(self) -> bool:
        """φ ≡ 1 (the 'φ off' baseline switch)."""
        return self.gamma == 0 and self.diversity == 'none'

    def diversity_factor(self, class_counts: torch.Tensor) -> torch.Tensor:
        """f(c) for every class c from the counts n_c (float, length C)."""
        if self.diversity == 'inverse_freq':
            return inverse_frequency(class_counts, self.kappa, self.eta)
        if self.diversity == 'literal':
            return 1.0 - class_counts / class_counts.sum().clamp_min(1.0)
        return torch.ones_like(class_counts)

    @torch.no_grad()
    def __call__(self,
                 uncertainty: torch.Tensor,
                 class_hist: torch.Tensor,
                 reference_counts: Optional[torch.Tensor] = None,
                 normalize: Optional[bool] = None) -> torch.Tensor:
        """φ for a batch.

        Args:
            uncertainty (Tensor): (N,) 1 − teacher confidence, in [0, 1]
                (computed as ``-expm1(log p)`` so that confident samples do
                not round to exactly 0).
            class_hist (Tensor): (N, C) per-sample class frequencies (rows
                sum to 1).
            reference_counts (Tensor, optional): (C,) class counts of the
                replay buffer; the batch's own histogram is added to them.
            normalize (bool, optional): Overrides ``self.normalize``.

        Returns:
            Tensor: (N,) non-negative weights.
        """
        phi = torch.ones_like(uncertainty)
        if self.gamma > 0:
            phi = phi * uncertainty.clamp_min(0).pow(self.gamma)
        if self.diversity != 'none':
            counts = class_hist.sum(0)
            if reference_counts is not None:
                counts = counts + reference_counts.to(counts)
            phi = phi * (class_hist * self.diversity_factor(counts)).sum(1)
        if self.normalize if normalize is None else normalize:
            phi = phi / phi.mean().clamp_min(1e-12)
        return phi.detach()
