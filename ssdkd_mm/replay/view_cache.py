# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Teacher targets of a fixed set of augmented views per buffer entry.

A small fixed buffer is drawn from many times (every image ~8 times in a
10-minute Fashion-MNIST run), and every draw used to cost a teacher forward
on a fresh augmented view. :class:`TeacherViewCache` keeps ``num_views``
augmented views of each entry and the teacher's logits on them: a draw
picks one of its entry's views at random and needs a teacher forward only
the first time that view is used. Teacher and student still see the same
image (the augmentation stays label-free); what changes is that each entry
has ``num_views`` views instead of a new one per draw.

The cache is a memo, not state: it is filled lazily, an overwritten slot's
views are dropped, and it is not checkpointed (a resumed run refills it as
it draws).
"""
from typing import Callable, Optional, Tuple

import torch
from torch import Tensor

#: ``augment(x01) -> views01``: augmented views (in [0, 1]) of images in
#: [0, 1]; ``teacher(views01) -> logits``: the teacher's logits on them.
Fn = Callable[[Tensor], Tensor]


class TeacherViewCache:
    """``num_views`` cached (view, teacher logits) pairs per buffer slot.

    Views are stored as uint8 (as the buffer stores images) and the teacher
    is run on the quantised view, so the cached target is exactly the
    teacher's output on the image the student gets.

    Args:
        num_views (int): Views per entry, >= 1.
    """

    def __init__(self, num_views: int) -> None:
        if isinstance(num_views, bool) or not isinstance(
                num_views, int) or num_views < 1:
            raise ValueError(f'num_views must be an int >= 1, got '
                             f'{num_views!r}')
        self.num_views = num_views
        self.views: Optional[Tensor] = None  # uint8 (slots, V, *img)
        self.logits: Optional[Tensor] = None  # float32 (slots, V, *out)
        self.valid: Optional[Tensor] = None  # bool (slots, V)
        self.n_computed = self.n_served = 0

    @property
    def slots(self) -> int:
        return 0 if self.valid is None else self.valid.shape[0]

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size()
                   for t in (self.views, self.logits, self.valid)
                   if t is not None)

    def reset(self) -> None:
        """Drop every view (a buffer loaded from a checkpoint)."""
        if self.valid is not None:
            self.valid.zero_()

    def invalidate(self, slots: Tensor) -> None:
        """Drop the views of overwritten slots (``-1``: not stored)."""
        if self.valid is None:
            return
        slots = slots.to(self.valid.device).reshape(-1)
        slots = slots[(slots >= 0) & (slots < self.slots)]
        self.valid[slots] = False

    def _ensure(self, n_slots: int, views: Tensor, logits: Tensor) -> None:
        """Storage for ``n_slots`` slots shaped like one view and its
        logits (grows geometrically, for an unbounded buffer)."""
        if self.valid is not None and n_slots <= self.slots:
            return
        size = max(n_slots, 2 * self.slots)
        v = self.num_views
        dev = views.device
        new_views = torch.zeros((size, v, *views.shape[1:]),
                                dtype=torch.uint8, device=dev)
        new_logits = torch.zeros((size, v, *logits.shape[1:]),
                                 dtype=torch.float32, device=dev)
        new_valid = torch.zeros((size, v), dtype=torch.bool, device=dev)
        if self.valid is not None:
            n = self.slots
            new_views[:n] = self.views.to(dev)
            new_logits[:n] = self.logits.to(dev)
            new_valid[:n] = self.valid.to(dev)
        self.views, self.logits, self.valid = new_views, new_logits, new_valid

    def fetch(self, idx: Tensor, x01: Tensor, augment: Fn, teacher: Fn,
              n_slots: int) -> Tuple[Tensor, Tensor]:
        """A random cached view of each drawn entry and the teacher's
        logits on it; views not computed yet are made by ``augment`` (from
        the drawn images ``x01``), quantised, scored by ``teacher`` and
        stored.

        Args:
            idx (Tensor): Drawn slots, shape ``(b,)``.
            x01 (Tensor): Their images in [0, 1], shape ``(b, *img)``.
            augment (callable): Views in [0, 1] of images in [0, 1].
            teacher (callable): Teacher logits of views in [0, 1].
            n_slots (int): Slots the buffer has allocated (upper bound of
                ``idx``).

        Returns:
            tuple: views in [0, 1] (float32, on ``x01``'s device) and
            teacher logits (float32), one per drawn entry.
        """
        dev = x01.device
        idx = idx.to(dev).reshape(-1)
        view = torch.randint(self.num_views, idx.shape, device=dev)
        if self.valid is not None and self.valid.device != dev:
            self.views, self.logits, self.valid = (
                self.views.to(dev), self.logits.to(dev), self.valid.to(dev))
        miss = (torch.ones_like(idx, dtype=torch.bool) if self.valid is None
                or int(idx.max()) >= self.slots else ~self.valid[idx, view])
        pos = miss.nonzero().squeeze(1)
        if pos.numel():
            # One view per missing (slot, view) pair, however often drawn
            # (any of a pair's draws: they hold the same image).
            key = idx[pos] * self.num_views + view[pos]
            uniq, inverse = torch.unique(key, return_inverse=True)
            pos = pos.new_empty(uniq.shape).scatter_(0, inverse, pos)
            new_views = (augment(x01[pos]).detach().clamp(0, 1).mul(255)
                         .round().to(torch.uint8))
            # The teacher's target on the quantised view the student gets.
            new_logits = teacher(new_views.float().div(255))
            self._ensure(n_slots, new_views, new_logits)
            slot, v = idx[pos], view[pos]
            self.views[slot, v] = new_views
            self.logits[slot, v] = new_logits.detach().float()
            self.valid[slot, v] = True
            self.n_computed += int(pos.numel())
        self.n_served += int(idx.numel())
        return (self.views[idx, view].float().div_(255),
                self.logits[idx, view].clone())

    @property
    def hit_rate(self) -> float:
        """Share of served views that needed no teacher forward."""
        return 1.0 - self.n_computed / max(self.n_served, 1)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(num_views={self.num_views})'
