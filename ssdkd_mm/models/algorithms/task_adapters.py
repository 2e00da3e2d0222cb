# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Where classification and segmentation differ, in one place.

The algorithm never branches on the task: it asks its adapter for logits,
per-sample losses, pseudo-labels and the statistics φ needs.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...utils.modules import first_tensor
from ...replay.modulating import phi_statistics
from ..losses import per_sample_cwd, per_sample_kl


class ClsTaskAdapter:
    """Image classification: logits are (N, C)."""

    def label_dim(self, num_classes: int) -> Optional[int]:
        """Per-image pseudo-label: one class id (the buffer stores int64)."""
        return None

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

    def kl(self, student_logits, teacher_logits, tau: float,
           weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(N,) τ²·KL(p_t^τ ‖ p_s^τ), times ``weight`` (N,) if given."""
        return per_sample_kl(student_logits, teacher_logits, tau, weight)

    def ce(self, teacher_logits: torch.Tensor,
           targets: torch.Tensor) -> torch.Tensor:
        """(N,) cross entropy of the teacher to the sampled target classes."""
        return F.cross_entropy(teacher_logits, targets, reduction='none')

    def agreement(self, student_logits, teacher_logits) -> torch.Tensor:
        """(N,) mask m_i = 1[argmax f_s = argmax f_t] of the adversarial
        term."""
        return (student_logits.argmax(1) == teacher_logits.argmax(1)).float()

    def masked_kl(self, student_logits, teacher_logits,
                  tau: float) -> torch.Tensor:
        """(N,) m_i·KL_i, the (to be maximised) adversarial disagreement,
        only where the student still agrees with the teacher."""
        mask = self.agreement(student_logits.detach(), teacher_logits.detach())
        return mask * self.kl(student_logits, teacher_logits, tau)

    def round_targets(self, classes: torch.Tensor, x01: torch.Tensor,
                      teacher_logits) -> torch.Tensor:
        """The CE targets of an inversion round (``teacher_logits``: the
        teacher on images in [0, 1]; unused here)."""
        return classes

    def view_targets(self, round_targets: torch.Tensor, augment, view,
                     img_hw, num_classes: int) -> torch.Tensor:
        """The round's targets for one augmented view: unchanged."""
        return round_targets

    def head_classes(self, model: nn.Module) -> Optional[int]:
        """C of an mmpretrain classifier's ``head`` (None if absent)."""
        return getattr(getattr(model, 'head', None), 'num_classes', None)

    def check_kd(self, cwd_weight: float) -> None:
        """Channel-wise KD needs dense logits."""
        if cwd_weight > 0:
            raise ValueError(
                'kd.cwd_weight > 0 (channel-wise distillation) needs dense '
                "logits: use it with task='seg', or set kd.cwd_weight=0.")

    def kd_loss(self, student_logits, teacher_logits, tau: float,
                weight: Optional[torch.Tensor] = None,
                cwd_weight: float = 0.0, cwd_tau: float = 4.0
                ) -> torch.Tensor:
        """(N,) per-sample loss of the student step: τ²·KL."""
        return self.kl(student_logits, teacher_logits, tau, weight)

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
        # argmax of the logits as given: an upcast keeps their order, and
        # phi_statistics makes the one fp32 copy
        label = (teacher_logits.detach().argmax(1)
                 if targets is None else targets)
        return phi_statistics(teacher_logits, label)


class SegTaskAdapter:
    """Semantic segmentation: logits are (N, C, h, w) (an mmseg segmentor's
    ``mode='tensor'`` output, i.e. the decode head before upsampling).

    * Teacher and student logits are aligned by resizing the student's to the
      teacher's size (bilinear), so different output strides work.
    * KL and CE are per pixel and **averaged** over pixels: the loss scale does
      not change with the resolution.
    * φ and priorities come from per-pixel teacher predictions: difficulty
      from the mean pixel confidence, diversity from the image's pixel-class
      frequencies (the buffer keeps them as its ŷ).
    * The CE of an inversion round gets one target map per image, built from
      the round's sampled class c:
      ``target='relabel'`` (default) keeps the layout the teacher currently
      sees in the generated image and asks for class c on every pixel it
      does not call ``background`` (an image with no foreground gets a box);
      ``target='box'`` asks for ``background`` with one box of class c of
      side ``box_size`` × the map side, wherever the generator puts things.
      An unconditional generator cannot follow random box positions in a
      few inner steps (the CE then stays at its initial value); relabelling
      steers the class of what it draws instead.

    Args:
        background (int, optional): Index of the background class; ``None``
            (no background class, e.g. Cityscapes): ``'box'`` fills with a
            random class and ``'relabel'`` relabels the whole image.
            Defaults to 0.
        target (str): ``'relabel'`` or ``'box'``. Defaults to 'relabel'.
        box_size (tuple): Range of the target box's relative side.
            Defaults to (0.3, 0.7).
    """

    TARGETS = ('relabel', 'box')

    #: Target pixels without a label (moved in from outside the image).
    IGNORE_INDEX = 255

    def __init__(self,
                 background: Optional[int] = 0,
                 target: str = 'relabel',
                 box_size: Sequence[float] = (0.3, 0.7)) -> None:
        lo, hi = (float(v) for v in box_size)
        if not 0 < lo <= hi <= 1:
            raise ValueError('task_cfg.box_size must satisfy 0 < low <= high '
                             f'<= 1, got {tuple(box_size)}')
        if target not in self.TARGETS:
            raise ValueError(f'task_cfg.target must be one of {self.TARGETS}, '
                             f'got {target!r}')
        self.background, self.box_size = background, (lo, hi)
        self.target = target

    def label_dim(self, num_classes: int) -> Optional[int]:
        """Per-image pseudo-label: pixel-class frequencies, (C,) floats."""
        return num_classes

    def logits(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) logits of an mmseg segmentor (``mode='tensor'``)."""
        out = first_tensor(model(x, mode='tensor'))
        if out.dim() != 4:
            raise ValueError(
                f"task='seg' expects (N, C, h, w) logits from the model's "
                f"mode='tensor' forward, got shape {tuple(out.shape)}; use "
                "task='cls' for classifiers.")
        return out

    def align(self, student_logits: torch.Tensor,
              teacher_logits: torch.Tensor
              ) -> Tuple[torch.Tensor, torch.Tensor]:
        if student_logits.shape[:2] != teacher_logits.shape[:2]:
            raise ValueError(
                f'student logits {tuple(student_logits.shape)} and teacher '
                f'logits {tuple(teacher_logits.shape)} differ in batch or '
                'class dimension: the student decode head must predict the '
                "teacher's number of classes.")
        if student_logits.shape[2:] != teacher_logits.shape[2:]:
            student_logits = F.interpolate(
                student_logits, size=teacher_logits.shape[2:],
                mode='bilinear', align_corners=False)
        return student_logits, teacher_logits

    def kl(self, student_logits, teacher_logits, tau: float,
           weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(N,) τ²·KL per pixel (times ``weight`` (N, h, w) if given),
        averaged over pixels."""
        return per_sample_kl(student_logits, teacher_logits, tau, weight)

    def masked_kl(self, student_logits, teacher_logits,
                  tau: float) -> torch.Tensor:
        """(N,) mean over pixels of m·KL, m = 1 where student and teacher
        agree on the pixel's class."""
        mask = (student_logits.detach().argmax(1) ==
                teacher_logits.detach().argmax(1)).float()
        log_ps = F.log_softmax(student_logits / tau, dim=1)
        log_pt = F.log_softmax(teacher_logits / tau, dim=1)
        kl = (log_pt.exp() * (log_pt - log_ps)).sum(1)
        return (mask * kl).flatten(1).mean(1) * tau**2

    def expand_targets(self, classes: torch.Tensor,
                       teacher_logits: torch.Tensor) -> torch.Tensor:
        """(N, h, w) target maps for the sampled ``classes`` (see
        ``target``)."""
        if self.target == 'box':
            return self._box_targets(classes, teacher_logits)
        pred = teacher_logits.detach().argmax(1)
        if self.background is None:
            return classes.view(-1, 1, 1).expand_as(pred).clone()
        self._check_background(teacher_logits.shape[1])
        fg = pred != self.background
        targets = torch.where(fg, classes.view(-1, 1, 1), pred)
        empty = ~fg.flatten(1).any(1)
        if empty.any():  # no foreground to relabel: ask for a box
            targets[empty] = self._box_targets(classes[empty],
                                               teacher_logits[empty])
        return targets

    def round_targets(self, classes: torch.Tensor, x01: torch.Tensor,
                      teacher_logits) -> torch.Tensor:
        """One (N, h, w) target map per image for an inversion round, built
        from ``teacher_logits(x01)`` (the teacher on the round's first,
        un-augmented generated images)."""
        return self.expand_targets(classes, teacher_logits(x01))

    def view_targets(self, round_targets: torch.Tensor, augment, view,
                     img_hw, num_classes: int) -> torch.Tensor:
        """The round's maps moved like the augmented view ``view`` (see
        :meth:`warp_targets`)."""
        return self.warp_targets(
            round_targets,
            lambda m: augment.geometry(m, augment.replay_view(view)),
            img_hw, num_classes)

    def head_classes(self, model: nn.Module) -> Optional[int]:
        """C of an mmseg segmentor's ``decode_head`` (None if absent)."""
        return getattr(getattr(model, 'decode_head', None), 'num_classes',
                       None)

    def check_kd(self, cwd_weight: float) -> None:
        """Every KD option applies to dense logits."""

    def kd_loss(self, student_logits, teacher_logits, tau: float,
                weight: Optional[torch.Tensor] = None,
                cwd_weight: float = 0.0, cwd_tau: float = 4.0
                ) -> torch.Tensor:
        """(N,) per-sample loss of the student step: the pixel-mean τ²·KL,
        plus λ_cwd·channel-wise distillation when ``cwd_weight`` > 0."""
        loss = self.kl(student_logits, teacher_logits, tau, weight)
        if cwd_weight > 0:
            loss = loss + cwd_weight * per_sample_cwd(
                student_logits, teacher_logits, cwd_tau)
        return loss

    def _check_background(self, num_classes: int) -> None:
        if not 0 <= self.background < num_classes:
            raise ValueError(f'task_cfg.background={self.background} is not '
                             f'a class index of the {num_classes}-class '
                             'teacher; set it to the background class or '
                             'None.')

    def _box_targets(self, classes: torch.Tensor,
                     teacher_logits: torch.Tensor) -> torch.Tensor:
        """(N, h, w): background with a box of ``classes[i]``."""
        n, c, h, w = teacher_logits.shape
        dev = classes.device
        if self.background is None:
            fill = torch.randint(0, c, (n, ), device=dev)
        else:
            self._check_background(c)
            fill = torch.full((n, ), self.background, device=dev)
        lo, hi = self.box_size
        frac = torch.rand(2, n, device=dev) * (hi - lo) + lo
        bh = (frac[0] * h).ceil().long().clamp(1, h)
        bw = (frac[1] * w).ceil().long().clamp(1, w)
        y0 = (torch.rand(n, device=dev) * (h - bh + 1)).long()
        x0 = (torch.rand(n, device=dev) * (w - bw + 1)).long()
        ys = torch.arange(h, device=dev).view(1, h, 1)
        xs = torch.arange(w, device=dev).view(1, 1, w)
        inside = ((ys >= y0.view(n, 1, 1)) & (ys < (y0 + bh).view(n, 1, 1))
                  & (xs >= x0.view(n, 1, 1)) & (xs < (x0 + bw).view(n, 1, 1)))
        return torch.where(inside, classes.view(n, 1, 1),
                           fill.view(n, 1, 1)).long()

    def warp_targets(self, targets: torch.Tensor, geometry,
                     img_hw: Tuple[int, int],
                     num_classes: int) -> torch.Tensor:
        """The round's (N, h, w) target maps (every pixel labelled, as
        :meth:`expand_targets` builds them) moved like one augmented view.

        ``geometry`` is the view's zoom/crop/flip (:meth:`BatchAugment.
        geometry` with its random generator in the state it had for the
        image). The maps are moved at the image's resolution ``img_hw`` as
        one-hot planes plus a validity plane, then pooled back to (h, w);
        pixels that came from outside the image get ``IGNORE_INDEX``.

        Without this, a map built on one view was reused on the next views
        and no longer lay on the garments (measured on Fashion-MNIST-Seg:
        the CE stayed at ~2.9, above a uniform guess).
        """
        n, h, w = targets.shape
        planes = F.one_hot(targets, num_classes).permute(0, 3, 1, 2)
        planes = torch.cat([planes, planes.new_ones(n, 1, h, w)], 1).float()
        planes = F.interpolate(planes, size=tuple(img_hw), mode='nearest')
        planes = F.adaptive_avg_pool2d(geometry(planes), (h, w))
        out = planes[:, :-1].argmax(1)
        return out.masked_fill(planes[:, -1] < 0.5, self.IGNORE_INDEX)

    def ce(self, teacher_logits: torch.Tensor,
           targets: torch.Tensor) -> torch.Tensor:
        """(N,) per-pixel cross entropy to the target map, pixel mean
        (``IGNORE_INDEX`` pixels count as 0)."""
        return F.cross_entropy(
            teacher_logits, targets, reduction='none',
            ignore_index=self.IGNORE_INDEX).flatten(1).mean(1)

    def pseudo_label(self, teacher_logits: torch.Tensor) -> torch.Tensor:
        """(N, C) frequencies of the teacher's per-pixel argmax classes."""
        label = teacher_logits.argmax(1)
        return F.one_hot(label, teacher_logits.shape[1]).flatten(
            1, 2).float().mean(1)

    def phi_statistics(self, teacher_logits: torch.Tensor,
                       targets: Optional[torch.Tensor] = None
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
        """1 − mean pixel confidence (N,) and pixel-class frequencies
        (N, C); the class of a pixel is the target map's while inverting and
        the teacher's argmax otherwise."""
        label = teacher_logits.detach().argmax(1)  # order kept by upcast
        if targets is not None:  # unlabelled target pixels: the teacher's
            label = targets.where(targets != self.IGNORE_INDEX, label)
        return phi_statistics(teacher_logits, label)


TASK_ADAPTERS = {'cls': ClsTaskAdapter, 'seg': SegTaskAdapter}


def build_task_adapter(task: str, **kwargs):
    """The adapter of ``task`` ('cls' or 'seg'), built with ``kwargs``
    (``model.task_cfg``)."""
    if task not in TASK_ADAPTERS:
        raise ValueError(f"model.task must be one of {sorted(TASK_ADAPTERS)}"
                         f", got {task!r}")
    try:
        return TASK_ADAPTERS[task](**kwargs)
    except TypeError as e:
        raise TypeError(f'model.task_cfg does not fit task={task!r}: {e}')
