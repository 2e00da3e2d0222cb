# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""SSD-KD's dynamic replay buffer B: a fixed number of synthetic samples,
updated partially (new samples replace the least useful ones)."""
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor

from .buffer_state import _ENTRY_DTYPES, BufferPersistence, DeviceType
from .memory import check_buffer_memory


def _view(name: str, doc: str) -> property:
    """A read-only property: the filled prefix of the field ``name``."""
    return property(lambda self: self._storage[name][:self._size], doc=doc)


class ReplayBuffer(BufferPersistence):
    """Fixed-capacity store of synthetic images for SSD-KD's dynamic replay
    buffer (partial update).

    Each entry keeps the image x_i (quantised to uint8, as Fast-DFKD stores
    PNGs), the modulating value φ_i, the teacher pseudo-label ŷ_i, the
    priority π_i, the training step it was inserted at, how many times it has
    been sampled, and a global insertion ordinal (for FIFO eviction).

    The filled entries always form a prefix ``[0, size)`` of the storage
    (entries are never removed, only overwritten), so the per-entry
    attributes (``images``, ``phi``, ...) are cheap views of that prefix.

    This is a plain object, not an ``nn.Module``: it must stay out of
    ``model.state_dict()`` and ``model.buffers()`` (buffer syncing in DDP and
    ``SyncBuffersHook`` would average it). Persist it with
    :meth:`state_dict` / :meth:`load_state_dict` (and move it with
    :meth:`to`): :class:`~.buffer_state.BufferPersistence`.

    Args:
        capacity (int): Number of entries N_B. For an unbounded buffer this
            is only the initial allocation. Defaults to 5000.
        img_shape (Sequence[int]): Shape of one image, e.g. ``(3, 32, 32)``.
        eviction (str): Which existing entries new samples overwrite when the
            buffer is full. ``'lowest_priority'`` replaces the entries with
            the lowest π (ties: oldest ``inserted_at``, then lower slot);
            ``'fifo'`` replaces the oldest insertions (ring order).
            Defaults to ``'lowest_priority'``.
        unbounded (bool): Never evict and grow the storage instead
            (Fast-DFKD's ever-growing pool, a baseline switch).
            Defaults to False.
        device (str | torch.device): Where the storage lives.
            Defaults to ``'cpu'``.
        pin_memory (bool): Allocate page-locked storage when ``device`` is
            the CPU and CUDA is available, for fast host-to-device copies of
            sampled batches. Ignored otherwise. Defaults to False.
        label_dim (int, optional): ``None`` (classification): ŷ_i is one
            class id, stored as int64 ``(n,)``. An int C (segmentation): ŷ_i
            is the image's teacher-predicted pixel-class frequencies, stored
            as float32 ``(n, C)`` rows summing to 1. Defaults to None.
    """

    EVICTIONS = ('lowest_priority', 'fifo')

    def __init__(self,
                 capacity: int = 5000,
                 img_shape: Optional[Sequence[int]] = None,
                 eviction: str = 'lowest_priority',
                 unbounded: bool = False,
                 device: DeviceType = 'cpu',
                 pin_memory: bool = False,
                 label_dim: Optional[int] = None) -> None:
        if label_dim is not None and (isinstance(label_dim, bool) or
                                      not isinstance(label_dim, int)
                                      or label_dim < 1):
            raise ValueError(
                f'label_dim must be None or a positive int, got {label_dim!r}')
        self.label_dim = label_dim
        self._dtypes = dict(_ENTRY_DTYPES)
        if label_dim is not None:
            self._dtypes['pseudo_label'] = torch.float32
        if isinstance(capacity, bool) or not isinstance(capacity, int) \
                or capacity < 1:
            raise ValueError(
                f'capacity must be a positive int, got {capacity!r}')
        if img_shape is None:
            raise ValueError('img_shape is required, e.g. (3, 32, 32)')
        img_shape = tuple(int(s) for s in img_shape)
        if len(img_shape) == 0 or any(s < 1 for s in img_shape):
            raise ValueError('img_shape must be a non-empty sequence of '
                             f'positive ints, got {img_shape}')
        if eviction not in self.EVICTIONS:
            raise ValueError(f'eviction must be one of {self.EVICTIONS}, '
                             f'got {eviction!r}')
        self.capacity = capacity
        self.img_shape: Tuple[int, ...] = img_shape
        self.eviction = eviction
        self.unbounded = bool(unbounded)
        self.device = torch.device(device)
        self.pin_memory = bool(pin_memory)
        self.n_inserted_total = 0
        self.n_evicted = self.n_evicted_undrawn = 0  # diagnostics
        self._size = 0
        check_buffer_memory(capacity, img_shape, self._dtypes, self.device,
                            label_dim)
        self._storage: Dict[str, Tensor] = {
            name: self._alloc(capacity, name)
            for name in _ENTRY_DTYPES
        }

    # ---------------------------------------------------------- storage
    @property
    def _pinned(self) -> bool:
        """Whether storage is page-locked (CPU device, CUDA present)."""
        return (self.pin_memory and self.device.type == 'cpu'
                and torch.cuda.is_available())

    def _alloc(self, n: int, name: str) -> Tensor:
        """Allocate uninitialised storage for ``n`` entries of ``name``."""
        shape = (n, *self._entry_shape(name))
        return torch.empty(
            shape,
            dtype=self._dtypes[name],
            device=self.device,
            pin_memory=self._pinned)

    def _entry_shape(self, name: str) -> Tuple[int, ...]:
        """Shape of one entry of the field ``name``."""
        if name == 'images':
            return self.img_shape
        if name == 'pseudo_label' and self.label_dim is not None:
            return (self.label_dim, )
        return ()

    def _grow(self, min_entries: int) -> None:
        """Amortised doubling of the storage to hold ``min_entries``."""
        allocated = self._storage['images'].shape[0]
        if min_entries <= allocated:
            return
        new_len = max(min_entries, 2 * allocated)
        for name, old in self._storage.items():
            new = self._alloc(new_len, name)
            new[:self._size] = old[:self._size]
            self._storage[name] = new

    @property
    def allocated(self) -> int:
        """Number of entries the storage can hold without growing."""
        return self._storage['images'].shape[0]

    def __len__(self) -> int:
        return self._size

    size = property(lambda self: self._size, doc='Number of filled entries.')

    @property
    def is_full(self) -> bool:
        """Whether a bounded buffer has no free slot (never for unbounded)."""
        return (not self.unbounded) and self._size >= self.capacity

    # ------------------------------------ per-entry views (filled prefix)
    images = _view('images', 'uint8 images x_i, ``(size, *img_shape)``.')
    phi = _view('phi', 'float32 modulating values φ_i, ``(size,)``.')
    pseudo_label = _view(
        'pseudo_label', 'Teacher pseudo-labels ŷ_i: int64 ``(size,)`` (or '
        'float32 ``(size, label_dim)`` pixel-class frequencies).')
    priority = _view('priority', 'float32 priorities π_i, ``(size,)``.')
    inserted_at = _view('inserted_at',
                        'int64 training step of each insertion.')
    times_sampled = _view('times_sampled',
                          'int64 times each entry was drawn.')
    insert_order = _view('insert_order', 'int64 global ordinal of each '
                         'insertion (FIFO order).')
    confidence = _view('confidence', "float32 teacher confidence in ŷ_i "
                       '(NaN where unknown).')

    # -------------------------------------------------------- insertion
    @staticmethod
    def quantize(images: Tensor) -> Tensor:
        """x ↦ round(255·clamp(x, 0, 1)) as uint8 (Fast-DFKD's PNG range)."""
        return (images.detach().clamp(0, 1) * 255).round().to(torch.uint8)

    def _check_per_sample(self, name: str, value: Tensor, n: int) -> None:
        """Raise ValueError unless ``value`` holds one entry per image."""
        expected = (n, *self._entry_shape(name))
        if not isinstance(value, Tensor) or tuple(value.shape) != expected:
            shape = tuple(value.shape) if isinstance(value, Tensor) \
                else type(value).__name__
            raise ValueError(f'{name} must be a tensor of shape {expected} '
                             f'(one entry per image), got {shape}')

    def _eviction_order(self, k: int) -> Tensor:
        """Slots of the k existing entries to overwrite, first victim first."""
        if self.eviction == 'fifo':
            # Ordinals are unique, so the oldest insertions come first.
            order = torch.argsort(self.insert_order)
        else:
            # Lexicographic (π, inserted_at, slot): successive stable sorts,
            # least significant key first; argsort of arange is the slot key.
            order = torch.argsort(self.inserted_at, stable=True)
            order = order[torch.argsort(self.priority[order], stable=True)]
        return order[:k]

    def add(self, images: Tensor, phi: Tensor, pseudo_label: Tensor,
            priority: Tensor, step: int,
            confidence: Optional[Tensor] = None) -> Tensor:
        """B ← B ∪ {(x_i, φ_i, ŷ_i, π_i)}: insert new samples (partial update).

        New samples are always inserted. They fill free slots first (in
        ascending slot order); the remainder overwrite existing entries chosen
        by ``eviction`` (the lowest π first, or the oldest first). An
        unbounded buffer grows instead of evicting.

        If a bounded buffer receives more than ``capacity`` samples at once,
        only the ``capacity`` new samples with the highest π are kept (ties:
        earlier input first), since they are the ones lowest-priority
        eviction would keep; the dropped ones get slot ``-1`` and do not
        count towards ``n_inserted_total``.

        Args:
            images (Tensor): Float images in [0, 1], shape
                ``(n, *img_shape)``, on any device. Values outside [0, 1]
                are clamped.
            phi (Tensor): φ_i, shape ``(n,)``.
            pseudo_label (Tensor): ŷ_i, shape ``(n,)``.
            priority (Tensor): Initial π_i, shape ``(n,)``.
            step (int): Training step, stored in ``inserted_at``.
            confidence (Tensor, optional): The teacher's confidence in ŷ_i,
                shape ``(n,)`` (diagnostics; NaN when not given).

        Returns:
            Tensor: int64 slot index of each new sample, in input order,
            shape ``(n,)``, on ``self.device`` (``-1`` for dropped samples).
        """
        expected = ('n', *self.img_shape)
        if not isinstance(images, Tensor) or images.dim() != len(
                self.img_shape) + 1 or tuple(
                    images.shape[1:]) != self.img_shape:
            given = tuple(images.shape) if isinstance(images, Tensor) \
                else type(images).__name__
            raise ValueError(f'images must have shape {expected}, '
                             f'got {given}')
        n = images.shape[0]
        if confidence is None:
            confidence = torch.full((n, ), float('nan'))
        for name, value in (('phi', phi), ('pseudo_label', pseudo_label),
                            ('priority', priority),
                            ('confidence', confidence)):
            self._check_per_sample(name, value, n)

        dev = self.device
        # Quantise where the images are: moves 4x fewer bytes to the buffer.
        images = self.quantize(images).to(dev)
        phi = phi.detach().to(dev, torch.float32)
        pseudo_label = pseudo_label.detach().to(dev,
                                                self._dtypes['pseudo_label'])
        priority = priority.detach().to(dev, torch.float32)
        confidence = confidence.detach().to(dev, torch.float32)
        slots_out = torch.full((n, ), -1, dtype=torch.int64, device=dev)
        if n == 0:
            return slots_out

        keep: Optional[Tensor] = None
        if not self.unbounded and n > self.capacity:
            keep = torch.sort(
                priority, descending=True,
                stable=True).indices[:self.capacity].sort().values
            images, phi = images[keep], phi[keep]
            pseudo_label, priority = pseudo_label[keep], priority[keep]
            confidence = confidence[keep]
        m = images.shape[0]

        if self.unbounded:
            self._grow(self._size + m)
            n_free = m
        else:
            n_free = min(m, self.capacity - self._size)
        free = torch.arange(
            self._size, self._size + n_free, dtype=torch.int64, device=dev)
        evicted = self._eviction_order(m - n_free) if m > n_free else \
            free.new_empty(0)
        slots = torch.cat([free, evicted])
        self.n_evicted += int(evicted.numel())
        self.n_evicted_undrawn += int(
            (self._storage['times_sampled'][evicted] == 0).sum())

        st = self._storage
        st['images'][slots] = images
        st['phi'][slots] = phi
        st['pseudo_label'][slots] = pseudo_label
        st['priority'][slots] = priority
        st['confidence'][slots] = confidence
        st['inserted_at'][slots] = int(step)
        st['times_sampled'][slots] = 0
        st['insert_order'][slots] = torch.arange(
            self.n_inserted_total,
            self.n_inserted_total + m,
            dtype=torch.int64,
            device=dev)
        self._size += n_free
        self.n_inserted_total += m

        if keep is None:
            return slots
        slots_out[keep] = slots
        return slots_out

    # ----------------------------------------------- access and updates
    def get(self, idx: Tensor) -> Tensor:
        """x_i = stored_i / 255: float32 images in [0, 1] on ``self.device``.

        Args:
            idx (Tensor): Slot indices into the filled part, shape ``(b,)``.

        Returns:
            Tensor: Images of shape ``(b, *img_shape)``.
        """
        idx = torch.as_tensor(idx, dtype=torch.int64, device=self.device)
        return self.images[idx].float().div_(255)

    def update_priority(self, idx: Tensor, priority: Tensor) -> None:
        """π_i ← π_i^new for slots ``idx`` (b,) (with repeated indices, which
        value is kept is unspecified)."""
        self.update_entries(idx, priority=priority)

    def update_entries(self,
                       idx: Tensor,
                       *,
                       phi: Optional[Tensor] = None,
                       pseudo_label: Optional[Tensor] = None,
                       priority: Optional[Tensor] = None,
                       confidence: Optional[Tensor] = None) -> None:
        """(φ_i, ŷ_i, π_i, conf_i) ← recomputed values (each optional, one
        per slot of ``idx`` (b,) into the filled part), e.g. in the periodic
        refresh."""
        idx = torch.as_tensor(
            idx, dtype=torch.int64, device=self.device).reshape(-1)
        for name, value in (('phi', phi), ('pseudo_label', pseudo_label),
                            ('priority', priority),
                            ('confidence', confidence)):
            if value is None:
                continue
            self._check_per_sample(name, value, idx.shape[0])
            # Index the filled view so that stale slots raise IndexError.
            view = self._storage[name][:self._size]
            view[idx] = value.detach().to(self.device, self._dtypes[name])

    def mark_sampled(self, idx: Tensor) -> None:
        """times_sampled_i += number of occurrences of i in ``idx``.

        Args:
            idx (Tensor): Sampled slot indices (repeats allowed: sampling is
                with replacement), shape ``(b,)``.
        """
        idx = torch.as_tensor(
            idx, dtype=torch.int64, device=self.device).reshape(-1)
        # index_add_ accumulates repeats; plain `t[idx] += 1` would not.
        self.times_sampled.index_add_(
            0, idx, torch.ones_like(idx, dtype=torch.int64))

    def class_histogram(self, num_classes: int) -> Tensor:
        """n_c = |{i ∈ B : ŷ_i = c}|, the class counts used by φ's diversity
        (with ``label_dim``: Σ_i of the images' pixel-class frequencies).

        Args:
            num_classes (int): Number of classes C.

        Returns:
            Tensor: float32 counts of shape ``(C,)`` on ``self.device``.
        """
        if self.label_dim is not None:
            if num_classes != self.label_dim:
                raise ValueError(f'num_classes={num_classes} differs from the '
                                 f'buffer label_dim={self.label_dim}')
            return self.pseudo_label.sum(0, dtype=torch.float32)
        counts = torch.bincount(self.pseudo_label, minlength=num_classes)
        if counts.shape[0] > num_classes:
            raise ValueError(f'pseudo_label contains class ids >= '
                             f'num_classes={num_classes}')
        return counts.float()

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(size={self._size}, '
                f'capacity={self.capacity}, img_shape={self.img_shape}, '
                f'eviction={self.eviction!r}, unbounded={self.unbounded}, '
                f'device={self.device})')
