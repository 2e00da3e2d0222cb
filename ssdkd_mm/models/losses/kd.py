# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Per-sample distillation losses (classification and dense prediction)."""
from typing import Optional

import torch
import torch.nn.functional as F


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
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f'student logits {tuple(student_logits.shape)} and teacher logits '
            f'{tuple(teacher_logits.shape)} differ; align them first')
    log_ps = F.log_softmax(student_logits / tau, dim=1)
    log_pt = F.log_softmax(teacher_logits / tau, dim=1)
    kl = (log_pt.exp() * (log_pt - log_ps)).sum(1)
    if weight is not None:
        if weight.shape != kl.shape:
            raise ValueError(f'weight {tuple(weight.shape)} must have the '
                             f'logits shape without dim 1, {tuple(kl.shape)}')
        kl = kl * weight
    if kl.dim() > 1:
        kl = kl.flatten(1).mean(1)
    return kl * tau**2
