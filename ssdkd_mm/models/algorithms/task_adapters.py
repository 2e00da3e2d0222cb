# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Where classification and segmentation differ, in one place.

The algorithm never branches on the task: it asks its adapter for logits,
per-sample losses, pseudo-labels and the statistics φ needs.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._utils import first_tensor
from ..losses import per_sample_kl


class ClsTaskAdapter:
    """Image classification: logits are (N, C)."""

    name = 'cls'

    def logits(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Logits of an mmpretrain classifier called in ``mode='tensor'``."""
        return first_tensor(model(x, mode='tensor'))

    def align(self, student_logits: torch.Tensor,
              teacher_logits: torch.Tensor
              ) -> Tuple[torch.Tensor, torch.Tensor]:
        if student_logits.shape != teacher_logits.shape:
            raise ValueError(
                f'student logits {tuple(student_logits.shape)} and teacher '
                f'logits {tuple(teacher_logits.shape)} differ: teacher and '
                'student must predict the same number of classes.')
        return student_logits, teacher_logits

    def kl(self, student_logits, teacher_logits, tau: float) -> torch.Tensor:
        """(N,) τ²·KL(p_t^τ ‖ p_s^τ)."""
        return per_sample_kl(student_logits, teacher_logits, tau)

    def ce(self, teacher_logits: torch.Tensor,
           targets: torch.Tensor) -> torch.Tensor:
        """(N,) cross entropy of the teacher to the sampled target classes."""
        return F.cross_entropy(teacher_logits, targets, reduction='none')

    def agreement(self, student_logits, teacher_logits) -> torch.Tensor:
        """(N,) mask m_i = 1[argmax f_s = argmax f_t] of the adversarial
        term."""
        return (student_logits.argmax(1) == teacher_logits.argmax(1)).float()

    def pseudo_label(self, teacher_logits: torch.Tensor) -> torch.Tensor:
        """(N,) ŷ = argmax_c p_t(c | x)."""
        return teacher_logits.argmax(1)

    def phi_statistics(self, teacher_logits: torch.Tensor,
                       targets: Optional[torch.Tensor] = None
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
        """1 − teacher confidence (N,) and class histogram (N, C) for φ.

        The class is the sampled target while inverting (φ then weights the
        CE to that target like a focal factor) and the teacher's prediction
        ŷ otherwise.
        """
        logits = teacher_logits.detach().float()
        label = logits.argmax(1) if targets is None else targets
        hist = F.one_hot(label, logits.shape[1]).to(logits.dtype)
        # 1 − p_c = Σ_{k≠c} p_k, in log space so that confident samples do
        # not round to exactly 0.
        others = logits.masked_fill(hist.bool(), float('-inf'))
        unc = (others.logsumexp(1) - logits.logsumexp(1)).exp()
        return unc, hist


TASK_ADAPTERS = {'cls': ClsTaskAdapter}


def build_task_adapter(task: str):
    if task not in TASK_ADAPTERS:
        raise ValueError(f'task must be one of {sorted(TASK_ADAPTERS)}, '
                         f'got {task!r}')
    return TASK_ADAPTERS[task]()
