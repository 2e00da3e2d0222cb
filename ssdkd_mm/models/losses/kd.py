# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Per-sample distillation losses (classification and dense prediction)."""
from typing import Optional

import torch
import torch.nn.functional as F


def _check_aligned(student_logits: torch.Tensor,
                   teacher_logits: torch.Tensor) -> None:
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f'student logits {tuple(student_logits.shape)} and teacher logits '
            f'{tuple(teacher_logits.shape)} differ; align them first')


def _kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
        tau: float, dim: int) -> torch.Tensor:
    """KL(softmax(t/τ) ‖ softmax(s/τ)) with the distributions along ``dim``,
    summed over it."""
    log_ps = F.log_softmax(student_logits / tau, dim=dim)
    log_pt = F.log_softmax(teacher_logits / tau, dim=dim)
    return (log_pt.exp() * (log_pt - log_ps)).sum(dim)


def per_sample_kl(student_logits: torch.Tensor,
                  teacher_logits: torch.Tensor,
                  tau: float = 1.0,
                  weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """τ²·KL(p_t^τ ‖ p_s^τ) per sample, summed over classes (dim 1) and
    averaged over any remaining (pixel) dimensions.

    Averaging over pixels keeps the scale of a dense KD loss independent of the
    resolution (mmrazor's ``batchmean`` would sum over pixels).

    Args:
        student_logits (Tensor): (N, C, ...) student logits.
        teacher_logits (Tensor): (N, C, ...) teacher logits, same shape.
        tau (float): Temperature τ.
        weight (Tensor, optional): (N, ...) weight of every sample/pixel,
            applied before the pixel mean (the logits' shape without dim 1).

    Returns:
        Tensor: (N,) per-sample losses.
    """
    _check_aligned(student_logits, teacher_logits)
    kl = _kl(student_logits, teacher_logits, tau, dim=1)
    if weight is not None:
        if weight.shape != kl.shape:
            raise ValueError(f'weight {tuple(weight.shape)} must have the '
                             f'logits shape without dim 1, {tuple(kl.shape)}')
        kl = kl * weight
    if kl.dim() > 1:
        kl = kl.flatten(1).mean(1)
    return kl * tau**2


def per_sample_cwd(student_logits: torch.Tensor,
                   teacher_logits: torch.Tensor,
                   tau: float = 4.0) -> torch.Tensor:
    """Channel-wise distillation (Shu et al., ICCV 2021) per sample: every
    class channel's map is turned into a distribution over the pixels by a
    softmax at temperature τ, and τ²·KL(teacher map ‖ student map) is
    averaged over the channels.

    Each class counts the same whatever its pixel share, so a rare class's
    map is matched as closely as the background's (a per-pixel KL is
    dominated by the most frequent class). A divergence between
    distributions over the pixels, it keeps its scale across resolutions.

    Args:
        student_logits (Tensor): (N, C, H, W) student logits.
        teacher_logits (Tensor): (N, C, H, W) teacher logits, same shape.
        tau (float): Temperature τ of the spatial softmax.

    Returns:
        Tensor: (N,) per-sample losses.
    """
    _check_aligned(student_logits, teacher_logits)
    if student_logits.dim() < 3:
        raise ValueError('channel-wise distillation needs dense (N, C, H, W) '
                         f'logits, got shape {tuple(student_logits.shape)}')
    kl = _kl(student_logits.flatten(2), teacher_logits.flatten(2), tau,
             dim=2)  # (N, C)
    return kl.mean(1) * tau**2
