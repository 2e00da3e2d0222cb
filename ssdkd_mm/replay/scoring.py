# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""What the replay needs to score its images itself: the teacher, the
student and the task's per-sample statistics, given explicitly."""
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor


@dataclass
class Scoring:
    """The models and rules that turn replay images into φ, ŷ and logits.

    Args:
        teacher (nn.Module): The frozen teacher (unwrapped).
        student (nn.Module): The student (unwrapped); scored in eval mode.
        normalize (callable): Images in [0, 1] → the models' input.
        task: The task adapter: ``logits``, ``align``, ``phi_statistics``,
            ``pseudo_label`` and ``kl`` (π's per-sample divergence).
        modulating (callable): φ (:class:`ModulatingFunction`).
    """
    teacher: nn.Module
    student: nn.Module
    normalize: Callable[[Tensor], Tensor]
    task: object
    modulating: Callable

    @torch.no_grad()
    def logits(self, x01: Tensor) -> Tuple[Tensor, Tensor]:
        """Teacher and student logits of images in [0, 1], aligned, with the
        student in eval mode (restored after)."""
        student = self.student
        mode = student.training
        student.eval()
        x = self.normalize(x01)
        t_logits = self.task.logits(self.teacher, x)
        s_logits, t_logits = self.task.align(
            self.task.logits(student, x), t_logits)
        student.train(mode)
        return t_logits, s_logits

    @torch.no_grad()
    def score(self, x01: Tensor, ref_counts: Optional[Tensor] = None):
        """φ (unnormalised: priorities of different rounds stay
        comparable), ŷ, 1 − teacher confidence and both logits of images
        in [0, 1]; ``ref_counts``: φ's class counts (None: the batch's)."""
        t_logits, s_logits = self.logits(x01)
        unc, hist = self.task.phi_statistics(t_logits)
        phi = self.modulating(unc, hist, ref_counts, normalize=False)
        return phi, self.task.pseudo_label(t_logits), unc, t_logits, s_logits
