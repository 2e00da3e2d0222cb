# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""The paper's rules on plain torch: replay buffer B, priority sampler δ,
priority rule π and modulating function φ with its statistics (collectives
through ``torch.distributed`` when initialised)."""
from .buffer import ReplayBuffer
from .modulating import ModulatingFunction, inverse_frequency, phi_statistics
from .prioritized import PrioritizedReplay, PriorityRule
from .sampler import PrioritySampler
from .scoring import Scoring
from .view_cache import TeacherViewCache

__all__ = ['ReplayBuffer', 'PrioritySampler', 'PriorityRule',
           'PrioritizedReplay', 'TeacherViewCache', 'ModulatingFunction',
           'inverse_frequency', 'phi_statistics']
