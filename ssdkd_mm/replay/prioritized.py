# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""SSD-KD's prioritised replay: the buffer B, the sampler δ and the
priority rule π as one object (plain torch).

One synthetic image's life here: :meth:`PrioritizedReplay.insert_scored`
scores it with the teacher and student it is given (:class:`Scoring`: φ, ŷ
and both logits), :meth:`~PrioritizedReplay.insert` gives it π from its φ
and the KL of those logits and stores it (evicting by the buffer's rule),
:meth:`~PrioritizedReplay.draw` hands it to a student step with its
importance-sampling weight, :meth:`~PrioritizedReplay.reprioritize` sets its
π from the step's new logits, and :meth:`~PrioritizedReplay.refresh`
rescores every entry with the current student. π's KL is computed here,
at τ_p, never by the caller.
"""
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from .buffer import ReplayBuffer
from .distributed import (all_gather_rows, last_write_wins, shard_range,
                          world_size)
from .memory import check_buffer_memory
from .sampler import PrioritySampler
from .scoring import Scoring
from .view_cache import TeacherViewCache

#: π's per-sample divergence: (student logits, teacher logits, τ) → (N,)
#: τ²·KL(p_t^τ ‖ p_s^τ) (the task adapter's ``kl``).
Divergence = Callable[[Tensor, Tensor, float], Tensor]


class PriorityRule:
    """π, the discrepancy that drives δ:
    π_i = φ_i·KL_τp(p_t ‖ p_s)(x_i) + ε (``uses_phi``), else KL + ε.

    Args:
        tau (float): τ_p, the temperature of the priority KL. Defaults to
            1.0.
        uses_phi (bool): Multiply the KL by φ. Defaults to True.
        new_entry (str): π of newly inserted samples: ``'phi_kl'`` (their
            own π) or ``'max'`` (the buffer's current max π, standard PER).
            Defaults to ``'phi_kl'``.
        insert_top_k (int, optional): Insert only the k samples of a round
            with the highest π ("ordered" insertion). Defaults to None (all).
        eps (float): ε > 0. Defaults to 1e-6.
    """

    NEW_ENTRY = ('phi_kl', 'max')

    def __init__(self,
                 tau: float = 1.0,
                 uses_phi: bool = True,
                 new_entry: str = 'phi_kl',
                 insert_top_k: Optional[int] = None,
                 eps: float = 1e-6) -> None:
        if not tau > 0:
            raise ValueError(f'tau (τ_p of the priority KL) must be > 0, '
                             f'got {tau!r}')
        if new_entry not in self.NEW_ENTRY:
            raise ValueError(f'new_entry must be one of {self.NEW_ENTRY}, '
                             f'got {new_entry!r}')
        if insert_top_k is not None and (
                isinstance(insert_top_k, bool)
                or not isinstance(insert_top_k, int) or insert_top_k < 1):
            raise ValueError('insert_top_k must be None or an int >= 1, got '
                             f'{insert_top_k!r}')
        if not eps > 0:
            raise ValueError(f'eps must be > 0, got {eps!r}')
        self.tau = float(tau)
        self.uses_phi = bool(uses_phi)
        self.new_entry = new_entry
        self.insert_top_k = insert_top_k
        self.eps = float(eps)

    def __call__(self, phi: Tensor, kl: Tensor) -> Tensor:
        """π from φ and the KL at τ_p; float32, detached."""
        disc = phi * kl if self.uses_phi else kl
        # Negative values only come from numerical noise in the KL.
        return disc.detach().float().clamp_min(0) + self.eps

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(tau={self.tau}, uses_phi='
                f'{self.uses_phi}, new_entry={self.new_entry!r}, '
                f'insert_top_k={self.insert_top_k}, eps={self.eps})')


class PrioritizedReplay:
    """The replay buffer, priority sampling δ and the priority rule π.

    Multi-process runs keep one replicated global buffer: every change
    (insertions, priority updates, refreshes) is all-gathered first and
    applied in rank order on every rank (``torch.distributed``, only when a
    process group is initialised).

    Args:
        buffer (ReplayBuffer): The storage of B (its eviction rule included).
        sampler (PrioritySampler): δ and its importance-sampling weights.
        rule (PriorityRule): π.
        storage_device (str | torch.device, optional): Where the buffer
            lives; ``None``: the training device (see :meth:`to_device`).
        view_cache (TeacherViewCache, optional): Cached augmented views and
            teacher logits per entry (see :meth:`draw_views`); overwritten
            entries drop theirs. Defaults to None (off).
        divergence (callable, optional): π's per-sample KL of (student,
            teacher) logits at τ_p (:data:`Divergence`, the task adapter's
            ``kl``). Required by the methods that take logits.
    """

    def __init__(self,
                 buffer: ReplayBuffer,
                 sampler: PrioritySampler,
                 rule: PriorityRule,
                 storage_device: Optional[Union[str, torch.device]] = None,
                 view_cache: Optional[TeacherViewCache] = None,
                 divergence: Optional[Divergence] = None) -> None:
        if rule.eps != sampler.eps:
            raise ValueError(f'the priority rule adds eps={rule.eps} but the '
                             f'sampler floors at eps={sampler.eps}')
        self.buffer = buffer
        self.sampler = sampler
        self.rule = rule
        self.storage_device = storage_device
        self.view_cache = view_cache
        self.divergence = divergence
        self.last_raw_weights: Optional[Tensor] = None
        self._reset_window()

    # ------------------------------------------------------------ views
    def __len__(self) -> int:
        return len(self.buffer)

    def discrepancy(self, student_logits: Tensor,
                    teacher_logits: Tensor) -> Tensor:
        """π's KL_τp(p_t ‖ p_s) per sample, of aligned logits."""
        if self.divergence is None:
            raise RuntimeError('PrioritizedReplay needs divergence= (the '
                               "task adapter's kl) to score logits")
        return self.divergence(student_logits, teacher_logits, self.rule.tau)

    def phi(self, idx: Tensor) -> Tensor:
        """φ_i of entries."""
        return self.buffer.phi[idx]

    def class_histogram(self, num_classes: int) -> Tensor:
        return self.buffer.class_histogram(num_classes)

    def to_device(self, training_device: torch.device) -> None:
        """Place the storage (``device``, else the training device)."""
        target = torch.device(self.storage_device or training_device)
        if self.buffer.device != target:
            buf = self.buffer
            check_buffer_memory(buf.allocated, buf.img_shape,
                                buf._dtypes, target, buf.label_dim)
            buf.to(target)

    # ------------------------------------------------------------ verbs
    def insert_scored(self, images: Tensor, scoring: Scoring,
                      ref_counts: Optional[Tensor], step: int
                      ) -> Dict[str, float]:
        """New images in [0, 1], scored with ``scoring``'s models (φ with
        the class counts ``ref_counts``, None: the batch's own), then
        :meth:`insert`."""
        phi, label, unc, t_logits, s_logits = scoring.score(images,
                                                            ref_counts)
        return self.insert(images, phi, label, t_logits, s_logits, step,
                           confidence=1 - unc)

    def insert(self, images: Tensor, phi: Tensor, label: Tensor,
               teacher_logits: Tensor, student_logits: Tensor, step: int,
               confidence: Optional[Tensor] = None) -> Dict[str, float]:
        """New samples with π from φ and the KL of their logits, all
        ranks' rows on every rank; a full buffer evicts by its ``eviction``
        rule. ``confidence``: the teacher's, kept for the diagnostics."""
        prio = self.rule(phi, self.discrepancy(student_logits,
                                               teacher_logits))
        if confidence is None:
            confidence = torch.full_like(prio, float('nan'))
        k = self.rule.insert_top_k
        if k is not None and k < len(prio):
            keep = prio.topk(k).indices
            images, label, phi, prio = (images[keep], label[keep], phi[keep],
                                        prio[keep])
            confidence = confidence[keep]
        if self.rule.new_entry == 'max' and len(self.buffer) > 0:
            prio = torch.full_like(prio, float(self.buffer.priority.max()))
        if world_size() > 1:
            rows = all_gather_rows(dict(
                images=ReplayBuffer.quantize(images), pseudo_label=label,
                phi=phi, priority=prio, confidence=confidence.float()))
            # uint8 on the wire; x/255 quantises back to the same uint8.
            images, label = rows['images'].float().div_(255), \
                rows['pseudo_label']
            phi, prio = rows['phi'], rows['priority']
            confidence = rows['confidence']
        slots = self.buffer.add(images, phi, label, prio, step=step,
                                confidence=confidence)
        if self.view_cache is not None:
            self.view_cache.invalidate(slots)
        self._note('insert_conf', confidence.float().mean())
        return dict(buffer_size=float(len(self.buffer)),
                    unique_images=float(self.buffer.n_inserted_total))

    def draw(self, n: int) -> Tuple[Tensor, Tensor, Tensor]:
        """``n`` entries by δ: images in [0, 1], indices and the IS weights
        the student step uses (normalised once, by the sampler's rule)."""
        idx, weights = self.sampler.sample(self.buffer.priority, n)
        self.last_raw_weights = weights  # as drawn, for the logs
        buf = self.buffer
        self._note('ess', weights.sum().square() /
                   (n * weights.square().sum()))
        self._note('age', (buf.n_inserted_total -
                           buf.insert_order[idx]).float().mean() /
                   buf.capacity)
        return buf.get(idx), idx, self.sampler.normalize(weights)

    def draw_views(self, n: int, device: Union[str, torch.device],
                   augment: Callable[[Tensor], Tensor],
                   teacher: Callable[[Tensor], Tensor]
                   ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """:meth:`draw` with the :attr:`view_cache`: ``n`` entries by δ, a
        cached augmented view of each (in [0, 1], on ``device``), the
        teacher's logits on it, the indices and the IS weights. Views not
        cached yet are made with ``augment`` and scored by ``teacher``."""
        if self.view_cache is None:
            raise RuntimeError('draw_views needs a view_cache')
        x01, idx, weights = self.draw(n)
        views, logits = self.view_cache.fetch(
            idx, x01.to(device, non_blocking=True), augment, teacher,
            self.buffer.allocated)
        return views, logits, idx, weights

    @torch.no_grad()
    def reprioritize(self, idx: Tensor, student_logits: Tensor,
                     teacher_logits: Tensor) -> None:
        """π_i ← π(φ_i, KL_i) for drawn entries from the step's logits,
        and their draw counts, with the draws of all ranks (the last write
        of an index wins)."""
        kl = self.discrepancy(student_logits.detach(), teacher_logits)
        prio = self.rule(self.buffer.phi[idx].to(kl), kl)
        dev = self.buffer.device
        if world_size() > 1:
            rows = all_gather_rows(dict(idx=idx, priority=prio))
            idx = rows['idx']
            self.buffer.update_priority(
                *last_write_wins(idx.to(dev), rows['priority'].to(dev)))
        else:
            self.buffer.update_priority(idx, prio.to(dev))
        self.buffer.mark_sampled(idx)

    def score_all(self, score: Callable[[Tensor], Sequence[Tensor]],
                  device: Union[str, torch.device],
                  chunk: int = 1024) -> Tuple[Tensor, ...]:
        """``score(images)`` over every entry in chunks, each rank a
        contiguous shard, the rows of all ranks concatenated in order."""
        all_idx = torch.arange(len(self.buffer), device=self.buffer.device)
        lo, hi = shard_range(len(self.buffer))
        stats = [
            score(self.buffer.get(all_idx[s:min(s + chunk, hi)]).to(device))
            for s in range(lo, hi, chunk)
        ]
        if not stats:  # fewer entries than ranks: no rows, right shapes
            stats = [tuple(t[:0] for t in score(
                self.buffer.get(all_idx[:1]).to(device)))]
        cols = [torch.cat(t) for t in zip(*stats)]
        rows = all_gather_rows({str(i): c for i, c in enumerate(cols)})
        return tuple(rows[str(i)] for i in range(len(cols)))

    @torch.no_grad()
    def refresh(self, scoring: Scoring, device: Union[str, torch.device],
                chunk: int = 1024) -> None:
        """Recompute ŷ, φ and π of every entry with ``scoring``'s models
        (the current student), so rarely drawn entries do not keep stale
        priorities; φ's class counts are the buffer's own."""
        if len(self.buffer) == 0:
            return
        self.to_device(device)

        def stats(x01):
            t_logits, s_logits = scoring.logits(x01)
            unc, hist = scoring.task.phi_statistics(t_logits)
            return (scoring.task.pseudo_label(t_logits), unc, hist,
                    self.discrepancy(s_logits, t_logits))

        label, unc, hist, kl = self.score_all(stats, device, chunk)
        # φ unnormalised, as at insertion.
        phi = scoring.modulating(unc, hist, normalize=False)
        self.update_scores(phi, label, kl, confidence=1 - unc)

    def update_scores(self, phi: Tensor, label: Tensor, kl: Tensor,
                      confidence: Optional[Tensor] = None) -> None:
        """(φ, ŷ, π and the teacher's confidence) of every entry ← rescored
        values (``kl``: π's discrepancy, see :meth:`refresh`)."""
        dev = self.buffer.device
        self.buffer.update_entries(
            torch.arange(len(self.buffer), device=dev), phi=phi.to(dev),
            pseudo_label=label.to(dev), priority=self.rule(phi, kl).to(dev),
            confidence=None if confidence is None else confidence.to(dev))

    # ------------------------------------------------------ diagnostics
    def _reset_window(self) -> None:
        self._window = dict(ess=[], age=[], insert_conf=[])

    def _note(self, key: str, value: Tensor) -> None:
        """One value (a 0-d tensor: no device sync) for the next
        :meth:`diagnostics`; the window keeps the last 256."""
        values = self._window[key]
        values.append(value.detach())
        if len(values) > 256:
            del values[0]

    def diagnostics(self) -> Dict[str, float]:
        """What the replay did since the last call (means over draws and
        insertions) and its state now; cheap: no forward pass.

        * ``is_ess``: effective sample size of the IS weights of a batch,
          (Σw)² / (b·Σw²), as a fraction of the batch;
        * ``sampler_eff_size``: 1/ΣP² of δ over the buffer, as a fraction of
          the entries (1 for uniform sampling);
        * ``drawn_age``: how long ago drawn entries were inserted, in
          buffer capacities of insertions since;
        * ``buffer_conf`` / ``insert_conf``: mean teacher confidence of the
          buffer and of the inserted images;
        * ``evicted_undrawn``: share of evicted entries never drawn;
        * ``turnover``: images inserted / capacity;
        * ``draws_per_image``: draws / images inserted;
        * ``view_cache_hit``: share of drawn views served from the
          :attr:`view_cache` so far (no teacher forward).
        """
        buf, win = self.buffer, self._window
        out = dict(
            turnover=buf.n_inserted_total / buf.capacity,
            draws_per_image=self.sampler.n_sampled /
            max(buf.n_inserted_total, 1))
        if buf.n_evicted:
            out['evicted_undrawn'] = buf.n_evicted_undrawn / buf.n_evicted
        for key, name in (('ess', 'is_ess'), ('age', 'drawn_age'),
                          ('insert_conf', 'insert_conf')):
            if win[key]:
                out[name] = float(torch.stack(win[key]).float().mean())
        if self.sampler.last_sum_p2 is not None and len(buf):
            out['sampler_eff_size'] = float(
                1.0 / self.sampler.last_sum_p2) / len(buf)
        if self.view_cache is not None:
            out['view_cache_hit'] = self.view_cache.hit_rate
        conf = buf.confidence
        if len(buf) and not conf.isnan().all():
            out['buffer_conf'] = float(conf.nanmean())
        self._reset_window()
        return out

    # ------------------------------------------------------------ state
    def state_dict(self) -> dict:
        return dict(buffer=self.buffer.state_dict(),
                    sampler=self.sampler.state_dict())

    def load_state_dict(self, state: dict) -> None:
        self.buffer.load_state_dict(state['buffer'])
        if self.view_cache is not None:
            self.view_cache.reset()
        if state.get('sampler') is not None:
            self.sampler.load_state_dict(state['sampler'])

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.buffer!r}, '
                f'{self.sampler!r}, {self.rule!r})')
