# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""SSD-KD (Small Scale Data-Free Knowledge Distillation) for OpenMMLab."""
# The compatibility fixes must run before anything imports mmrazor.models.
from .compat import apply_compat_fixes

apply_compat_fixes()

from . import apis, datasets, engine, experiments, models, replay  # noqa: E402,F401
from .version import __version__  # noqa: E402

__all__ = ['__version__', 'apply_compat_fixes']
