# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""ssdkd_mm registers into mmrazor's registries (it is an mmrazor
algorithm); configs use ``_scope_='mmrazor'`` or the ``mmrazor.`` prefix."""
from mmrazor.registry import DATASETS, HOOKS, LOOPS, MODELS

__all__ = ['DATASETS', 'HOOKS', 'LOOPS', 'MODELS']
