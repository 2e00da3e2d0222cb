# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""The replay buffer's memory, known before it is allocated.

The buffer preallocates ``capacity`` uint8 images plus a few per-entry
fields; 10 % of ImageNet (128k images at 224²) is about 19 GB. Before
allocating, :func:`check_buffer_memory` refuses in one line naming
``model.replay_buffer.capacity`` and the storage device when the buffer
cannot fit in what is free there, and warns when it takes a large share.
"""
import math
import os
import warnings
from typing import Dict, Optional, Sequence

import torch

__all__ = ['BufferMemoryError', 'buffer_bytes', 'available_bytes',
           'check_buffer_memory', 'WARN_SHARE']

#: Warn when the buffer takes more than this share of the free memory.
WARN_SHARE = 0.5
_GIB = 1024**3


class BufferMemoryError(ValueError):
    """The buffer cannot fit on its storage device; the message names the
    setting to change."""


def buffer_bytes(capacity: int, img_shape: Sequence[int],
                 dtypes: Dict[str, torch.dtype],
                 label_dim: Optional[int] = None) -> int:
    """Bytes of ``capacity`` entries: uint8 images of ``img_shape`` and one
    value of each other field of ``dtypes`` (``label_dim`` of the label)."""
    per_entry = 0
    for name, dtype in dtypes.items():
        itemsize = torch.empty((), dtype=dtype).element_size()
        if name == 'images':
            n = math.prod(img_shape)
        elif name == 'pseudo_label' and label_dim is not None:
            n = label_dim
        else:
            n = 1
        per_entry += n * itemsize
    return int(capacity) * per_entry


def available_bytes(device: torch.device) -> Optional[int]:
    """Free memory of ``device`` (CUDA: the driver's free memory; CPU: the
    kernel's MemAvailable), or None where it cannot be told."""
    device = torch.device(device)
    try:
        if device.type == 'cuda' and torch.cuda.is_available():
            return int(torch.cuda.mem_get_info(device)[0])
        if device.type == 'cpu':
            with open('/proc/meminfo') as f:
                for line in f:
                    if line.startswith('MemAvailable:'):
                        return int(line.split()[1]) * 1024
            return os.sysconf('SC_AVPHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
    except (OSError, ValueError, RuntimeError, AttributeError):
        return None
    return None


def check_buffer_memory(capacity: int,
                        img_shape: Sequence[int],
                        dtypes: Dict[str, torch.dtype],
                        device,
                        label_dim: Optional[int] = None) -> int:
    """Refuse (:class:`BufferMemoryError`, one line) a buffer larger than
    the free memory of ``device``; warn above :data:`WARN_SHARE` of it.
    Returns the buffer's bytes."""
    need = buffer_bytes(capacity, img_shape, dtypes, label_dim)
    free = available_bytes(device)
    if free is None:
        return need
    what = (f'model.replay_buffer.capacity={capacity} entries of '
            f'{tuple(img_shape)} uint8 images take {need / _GIB:.2f} GiB on '
            f'{torch.device(device)}')
    if need > free:
        raise BufferMemoryError(
            f'{what}, where {free / _GIB:.2f} GiB is free: lower '
            'model.replay_buffer.capacity or keep the buffer elsewhere '
            "(model.replay_buffer.device='cpu', pin_memory=True)")
    if need > WARN_SHARE * free:
        warnings.warn(f'{what}, {need / free:.0%} of the {free / _GIB:.2f} '
                      'GiB free there')
    return need
