# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Replay buffer B, priority sampler δ and priority rule π of SSD-KD (plain
torch; collectives through ``torch.distributed`` when initialised)."""
from .buffer import ReplayBuffer
from .prioritized import PrioritizedReplay, PriorityRule
from .sampler import PrioritySampler
from .view_cache import TeacherViewCache

__all__ = ['ReplayBuffer', 'PrioritySampler', 'PriorityRule',
           'PrioritizedReplay', 'TeacherViewCache']
