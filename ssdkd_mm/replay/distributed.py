# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Collectives that keep one replicated replay buffer across ranks.

Every rank holds a full copy of the global buffer B. Whatever changes B
(new samples, priority updates, a refresh) is first all-gathered, so all
ranks apply the same rows in the same (rank) order and their copies stay
identical; rank 0's copy, the one ``save_checkpoint`` writes, is then the
global buffer.
"""
from typing import Dict, List, Tuple

import torch
import torch.distributed as torch_dist
from torch import Tensor


def world_size() -> int:
    """Processes in the default group (1 without one)."""
    if torch_dist.is_available() and torch_dist.is_initialized():
        return torch_dist.get_world_size()
    return 1


def rank() -> int:
    """This process's rank in the default group (0 without one)."""
    if torch_dist.is_available() and torch_dist.is_initialized():
        return torch_dist.get_rank()
    return 0


def _all_gather(t: Tensor) -> List[Tensor]:
    """``t`` of every rank, on ``t``'s device; NCCL groups communicate
    through the current CUDA device."""
    comm = t
    if torch_dist.get_backend() == 'nccl' and t.device.type != 'cuda':
        comm = t.cuda()
    parts = [torch.empty_like(comm) for _ in range(world_size())]
    torch_dist.all_gather(parts, comm)
    return [p.to(t.device) for p in parts]


def all_gather_rows(fields: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Each field's rows from every rank, concatenated in rank order.

    Ranks may contribute different numbers of rows (padded for the
    collective, then trimmed); a field's trailing shape and dtype must agree
    across ranks but are otherwise arbitrary, e.g. ``(n,)`` int64 labels or
    ``(n, C)`` float32 class histograms. Without a process group the fields
    are returned unchanged.

    Args:
        fields (dict[str, Tensor]): Same keys, in the same order, on every
            rank; all with the same number of rows n.

    Returns:
        dict[str, Tensor]: ``(Σ_r n_r, ...)`` tensors on each input's device.
    """
    if world_size() < 2 or not fields:
        return dict(fields)
    rows = {t.shape[0] for t in fields.values()}
    if len(rows) != 1:
        raise ValueError('all_gather_rows needs the same number of rows in '
                         f'every field, got {rows}')
    n = rows.pop()
    first = next(iter(fields.values()))
    counts = [
        int(c) for c in _all_gather(
            torch.tensor([n], dtype=torch.int64, device=first.device))
    ]
    most = max(counts)
    out = {}
    for name, t in fields.items():
        t = t.detach().contiguous()
        if most > n:
            t = torch.cat([t, t.new_zeros((most - n, *t.shape[1:]))])
        parts = _all_gather(t)
        out[name] = torch.cat([p[:c] for p, c in zip(parts, counts)])
    return out


def last_write_wins(idx: Tensor, values: Tensor) -> Tuple[Tensor, Tensor]:
    """Unique indices with the value of their last occurrence.

    Index assignment with repeated indices keeps an unspecified value (and
    on GPUs not necessarily the same one on every rank); this makes the
    update deterministic.

    Args:
        idx (Tensor): int64 indices, shape ``(b,)``.
        values (Tensor): One value (row) per index, shape ``(b, ...)``.

    Returns:
        tuple[Tensor, Tensor]: Sorted unique indices and their values.
    """
    uniq, inverse = torch.unique(idx, return_inverse=True)
    pos = torch.arange(idx.shape[0], device=idx.device)
    last = torch.full_like(uniq, -1).scatter_reduce_(
        0, inverse, pos, reduce='amax')
    return uniq, values[last]


def shard_range(n: int) -> Tuple[int, int]:
    """``[lo, hi)``: this rank's contiguous share of ``n`` items (rank order,
    so gathering the shards restores the original order)."""
    r, world = rank(), world_size()
    per = -(-n // world)
    return min(r * per, n), min((r + 1) * per, n)
