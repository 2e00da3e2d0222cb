# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""SSD-KD's priority sampling δ: prioritized experience replay (Schaul et al.,
ICLR 2016) over the replay buffer, with importance-sampling correction."""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor


class PrioritySampler:
    """δ: prioritized experience replay over the buffer,
    P(i) = π_i^α / Σ_k π_k^α, w_i = (N·P(i))^-β / max_j w_j.

    The sampler holds no priorities itself: the buffer owns π and the caller
    passes it in, so this object only carries the PER schedule (β annealed
    from β₀ to β₁ over training) and a draw counter.

    Args:
        alpha (float): Priority exponent α ≥ 0; α = 0 is uniform sampling.
            Defaults to 0.6 (PER default).
        beta (Sequence[float]): ``(β₀, β₁)``, the IS exponent at the start and
            at the end of training, each in [0, 1]. Defaults to (0.4, 1.0).
        eps (float): ε > 0 added to the discrepancy so that every entry keeps
            a non-zero probability. Defaults to 1e-6.
        mode (str): ``'proportional'`` (P ∝ π^α), ``'rank'``
            (P ∝ rank^-α, rank 1 = highest π) or ``'uniform'`` (P = 1/N,
            all weights 1; the ablation baseline). Defaults to
            ``'proportional'``.
        importance_weighting (bool): Whether the student's loss uses the IS
            weights at all (False: every weight is 1). Defaults to True.
        is_weight_norm (str): How :meth:`normalize` scales a batch's
            weights: ``'mean'`` (w_i / mean_batch(w), the step keeps the scale
            of unit weights) or ``'max'`` (PER's w_i / max_j w_j as drawn,
            which shrinks every step when some π is ~ε). Defaults to
            ``'mean'``.
        uniform_mix (float): λ ∈ [0, 1): draw from the mixture
            P = (1 − λ)·P_δ + λ/N, so that every entry keeps at least λ/N and
            the IS weights stay bounded, w ≤ (1/λ)^β up to the max norm.
            Defaults to 0 (pure prioritised sampling).
    """

    MODES = ('proportional', 'rank', 'uniform')
    WEIGHT_NORMS = ('mean', 'max')

    def __init__(self,
                 alpha: float = 0.6,
                 beta: Sequence[float] = (0.4, 1.0),
                 eps: float = 1e-6,
                 mode: str = 'proportional',
                 importance_weighting: bool = True,
                 is_weight_norm: str = 'mean',
                 uniform_mix: float = 0.0) -> None:
        if not 0.0 <= uniform_mix < 1.0:
            raise ValueError(
                f'uniform_mix (λ) must be in [0, 1), got {uniform_mix!r}')
        if is_weight_norm not in self.WEIGHT_NORMS:
            raise ValueError(f'is_weight_norm must be one of '
                             f'{self.WEIGHT_NORMS}, got {is_weight_norm!r}')
        if mode not in self.MODES:
            raise ValueError(f'mode must be one of {self.MODES}, '
                             f'got {mode!r}')
        if not alpha >= 0:  # also rejects NaN
            raise ValueError(
                f'alpha (priority exponent α) must be >= 0, got {alpha!r}')
        if not eps > 0:
            raise ValueError(f'eps must be > 0, got {eps!r}')
        if (isinstance(beta, (int, float)) or len(beta) != 2
                or not all(0.0 <= float(b) <= 1.0 for b in beta)):
            raise ValueError(
                'beta (IS exponent schedule (β₀, β₁)) must be a pair of '
                f'values in [0, 1], got {beta!r}')
        beta0, beta1 = float(beta[0]), float(beta[1])
        self.alpha = float(alpha)
        self.beta0 = beta0
        self.beta1 = beta1
        self.eps = float(eps)
        self.mode = mode
        self.importance_weighting = bool(importance_weighting)
        self.is_weight_norm = is_weight_norm
        self.uniform_mix = float(uniform_mix)
        self.last_sum_p2: Optional[Tensor] = None  # Σ P², last draw
        self.progress = 0.0
        self.n_sampled = 0
        self._beta = beta0

    @property
    def beta(self) -> float:
        """Current IS exponent β."""
        return self._beta

    def set_progress(self, progress: float) -> None:
        """β = β₀ + (β₁ − β₀)·clamp(progress, 0, 1): linear annealing.

        Args:
            progress (float): Fraction of the KD phase done, e.g.
                ``(iter - warmup) / (max_iters - warmup)``.
        """
        self.progress = min(max(float(progress), 0.0), 1.0)
        self._beta = self.beta0 + (self.beta1 - self.beta0) * self.progress

    def probabilities(self, priority: Tensor) -> Tensor:
        """P(i) = π_i^α / Σ_k π_k^α (rank: rank(i)^-α / Σ_k rank(k)^-α).

        Args:
            priority (Tensor): π over the filled buffer, shape ``(N,)``.

        Returns:
            Tensor: Probabilities summing to 1, shape ``(N,)``, float32
            (float64 if ``priority`` is float64), on ``priority.device``.
        """
        priority = self._check_priority(priority)
        dtype = torch.float64 if priority.dtype == torch.float64 \
            else torch.float32
        n = priority.shape[0]
        if self.mode == 'uniform':
            return torch.full((n, ),
                              1.0 / n,
                              dtype=dtype,
                              device=priority.device)
        if self.mode == 'rank':
            # Stable sort: equal priorities keep buffer order for rank ties.
            order = torch.argsort(priority, descending=True, stable=True)
            rank = torch.empty(n, dtype=dtype, device=priority.device)
            rank[order] = torch.arange(
                1, n + 1, dtype=dtype, device=priority.device)
            scaled = rank.reciprocal()
        else:
            pri = priority.detach().to(dtype).clamp_min(0)
            # π already contains ε; only a zero π needs it again.
            pri = torch.where(pri > 0, pri, torch.full_like(pri, self.eps))
            # Dividing by max π first keeps π^α away from over/underflow;
            # it cancels in the normalisation.
            scaled = pri / pri.max()
        probs = scaled.pow(self.alpha)
        probs = probs / probs.sum()
        if self.uniform_mix > 0:
            probs = (1 - self.uniform_mix) * probs + self.uniform_mix / n
        return probs

    def importance_weights(self, probs: Tensor, idx: Tensor) -> Tensor:
        """w_i = (N·P(i))^-β / max_j (N·P(j))^-β = (min_j P(j) / P(i))^β.

        The maximum runs over the whole buffer (the least likely entry), as
        in Schaul et al. 2016, so every weight lies in (0, 1].

        Args:
            probs (Tensor): P over the whole buffer, shape ``(N,)``.
            idx (Tensor): Indices of the drawn entries, shape ``(b,)``.

        Returns:
            Tensor: float32 weights, shape ``(b,)``, on ``probs.device``.
        """
        idx = torch.as_tensor(idx, dtype=torch.int64, device=probs.device)
        if self.mode == 'uniform':
            return torch.ones(
                idx.shape, dtype=torch.float32, device=probs.device)
        # N cancels between numerator and max; the ratio form avoids it.
        weights = (probs.min() / probs[idx]).pow(self._beta)
        return weights.float()

    def normalize(self, weights: Tensor) -> Tensor:
        """The weights a student step uses: all 1 without importance
        weighting, else the drawn (max-normalised) weights divided by their
        batch mean with ``is_weight_norm='mean'``.

        Args:
            weights (Tensor): Weights as returned by :meth:`sample`.

        Returns:
            Tensor: Weights of the same shape.
        """
        if not self.importance_weighting:
            return torch.ones_like(weights)
        if self.is_weight_norm == 'mean':
            return weights / weights.mean()
        return weights

    def sample(self,
               priority: Tensor,
               batch_size: int,
               generator: Optional[torch.Generator] = None
               ) -> Tuple[Tensor, Tensor]:
        """i ~ P(i) with replacement, returned with their IS weights w_i.

        Args:
            priority (Tensor): π over the filled buffer, shape ``(N,)``.
            batch_size (int): Number of draws b ≥ 1.
            generator (torch.Generator, optional): RNG for reproducible
                draws; must live on ``priority.device``. Defaults to None.

        Returns:
            tuple[Tensor, Tensor]: int64 indices ``(b,)`` and float32 weights
            ``(b,)``, both on ``priority.device``.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) \
                or batch_size < 1:
            raise ValueError(
                f'batch_size must be an int >= 1, got {batch_size!r}')
        probs = self.probabilities(priority)
        self.last_sum_p2 = probs.square().sum()  # 1/ΣP²: effective size
        idx = torch.multinomial(
            probs, batch_size, replacement=True, generator=generator)
        self.n_sampled += batch_size
        return idx, self.importance_weights(probs, idx)

    def _check_priority(self, priority: Tensor) -> Tensor:
        """Raise ValueError unless ``priority`` is a non-empty 1-D tensor."""
        if not isinstance(priority, Tensor) or priority.dim() != 1:
            shape = tuple(priority.shape) if isinstance(priority, Tensor) \
                else type(priority).__name__
            raise ValueError(
                f'priority must be a 1-D tensor, got {shape}')
        if priority.shape[0] == 0:
            raise ValueError('cannot sample from an empty replay buffer: '
                             'add samples before sampling')
        return priority

    def state_dict(self) -> dict:
        """Schedule position, counters and the configuration.

        Returns:
            dict: ``progress``, ``beta``, ``n_sampled``, ``alpha``,
            ``beta0``, ``beta1``, ``eps`` and ``mode``.
        """
        return dict(
            progress=self.progress,
            beta=self._beta,
            n_sampled=self.n_sampled,
            alpha=self.alpha,
            beta0=self.beta0,
            beta1=self.beta1,
            eps=self.eps,
            mode=self.mode)

    def load_state_dict(self, state: dict) -> None:
        """Restore the schedule position and counters.

        The configuration (α, β₀, β₁, ε) of this sampler is kept, so a
        resumed run may change it; β is recomputed from the loaded progress
        with this sampler's schedule. A different ``mode`` is an error,
        because the saved progress would describe another experiment.

        Args:
            state (dict): A dict produced by :meth:`state_dict`.

        Raises:
            ValueError: If the saved ``mode`` differs from this sampler's.
        """
        mode = state.get('mode', self.mode)
        if mode != self.mode:
            raise ValueError(f'cannot load a PrioritySampler state with mode '
                             f'{mode!r} into one with mode {self.mode!r}')
        self.set_progress(state.get('progress', 0.0))
        self.n_sampled = int(state.get('n_sampled', 0))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(alpha={self.alpha}, '
                f'beta=({self.beta0}, {self.beta1}), eps={self.eps}, '
                f'mode={self.mode!r})')
