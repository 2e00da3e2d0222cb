# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Replay buffer B and priority sampler δ of SSD-KD (plain torch)."""
from .buffer import ReplayBuffer
from .sampler import PrioritySampler

__all__ = ['ReplayBuffer', 'PrioritySampler']
