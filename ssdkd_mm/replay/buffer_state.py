# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""The replay buffer's fields, and its persistence and placement
(:meth:`state_dict`, :meth:`load_state_dict`, :meth:`to`), for
:class:`~ssdkd_mm.replay.buffer.ReplayBuffer`."""
from typing import Union

import torch
from torch import Tensor

# Per-entry tensors and their storage dtypes; the image dtype is uint8.
_ENTRY_DTYPES = {
    'images': torch.uint8,
    'phi': torch.float32,
    'pseudo_label': torch.int64,
    'priority': torch.float32,
    'inserted_at': torch.int64,
    'times_sampled': torch.int64,
    'insert_order': torch.int64,
    'confidence': torch.float32,  # the teacher's, NaN if not given
}
#: Fields a checkpoint of an older version may lack (filled with NaN).
_OPTIONAL_FIELDS = ('confidence', )

DeviceType = Union[str, torch.device]


class BufferPersistence:
    """What :class:`ReplayBuffer` saves, restores and moves: its filled
    prefix of ``_storage`` (fields :data:`_ENTRY_DTYPES`) and counters."""

    def state_dict(self) -> dict:
        """Snapshot of the filled entries (on CPU) and the counters.

        Returns:
            dict: Per-entry tensors (``images``, ``phi``, ``pseudo_label``,
            ``priority``, ``inserted_at``, ``times_sampled``,
            ``insert_order``) plus ``size``, ``n_inserted_total``,
            ``capacity``, ``img_shape``, ``eviction`` and ``unbounded``.
        """
        state = {
            name: self._storage[name][:self._size].detach().to(
                'cpu', copy=True)
            for name in _ENTRY_DTYPES
        }
        state.update(
            size=self._size,
            n_inserted_total=self.n_inserted_total,
            n_evicted=self.n_evicted,
            n_evicted_undrawn=self.n_evicted_undrawn,
            capacity=self.capacity,
            img_shape=tuple(self.img_shape),
            eviction=self.eviction,
            unbounded=self.unbounded)
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore entries and counters bit-exactly onto ``self.device``.

        ``eviction`` and ``unbounded`` are configuration: this buffer keeps
        its own values, the saved ones are informational.

        Args:
            state (dict): A dict produced by :meth:`state_dict`.

        Raises:
            ValueError: If ``img_shape`` differs, if ``capacity`` differs for
                a bounded buffer, if the saved entries do not fit a bounded
                buffer, or if keys are missing or tensors have wrong lengths.
        """
        state = dict(state)
        for name in _OPTIONAL_FIELDS:
            if name not in state and 'size' in state:
                state[name] = torch.full((int(state['size']), ), float('nan'))
        missing = [
            k for k in (*_ENTRY_DTYPES, 'size', 'n_inserted_total',
                        'capacity', 'img_shape') if k not in state
        ]
        if missing:
            raise ValueError(f'replay buffer state is missing keys {missing}')
        saved_shape = tuple(int(s) for s in state['img_shape'])
        if saved_shape != self.img_shape:
            raise ValueError(
                f'cannot load a replay buffer with img_shape {saved_shape} '
                f'into one with img_shape {self.img_shape}')
        size = int(state['size'])
        if not self.unbounded:
            if int(state['capacity']) != self.capacity:
                raise ValueError(
                    'cannot load a replay buffer with capacity '
                    f'{int(state["capacity"])} into a bounded one with '
                    f'capacity {self.capacity}')
            if size > self.capacity:
                raise ValueError(
                    f'saved replay buffer holds {size} entries, more than '
                    f'the capacity {self.capacity}')
        for name in _ENTRY_DTYPES:
            t = state[name]
            if not isinstance(t, Tensor) or tuple(t.shape) != (
                    size, *self._entry_shape(name)):
                raise ValueError(
                    f'replay buffer state entry {name!r} must have shape '
                    f'{(size, *self._entry_shape(name))} (saved size, entry '
                    'shape of this buffer), got '
                    f'{tuple(t.shape) if isinstance(t, Tensor) else t!r}')

        if self.unbounded:
            self._grow(size)
        for name in _ENTRY_DTYPES:
            self._storage[name][:size] = state[name].to(
                self.device, self._dtypes[name])
        self._size = size
        self.n_inserted_total = int(state['n_inserted_total'])
        self.n_evicted = int(state.get('n_evicted', 0))
        self.n_evicted_undrawn = int(state.get('n_evicted_undrawn', 0))

    def to(self, device: DeviceType) -> 'ReplayBuffer':
        """Move the storage to ``device`` (in place) and return self.

        Args:
            device (str | torch.device): Target device.

        Returns:
            ReplayBuffer: This buffer.
        """
        device = torch.device(device)
        if device == self.device:
            return self
        self.device = device
        for name, old in self._storage.items():
            new = self._alloc(old.shape[0], name)
            new[:self._size] = old[:self._size]
            self._storage[name] = new
        return self
