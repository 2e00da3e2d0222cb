# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Helpers below every other subpackage: atomic writes, module unwrapping,
CPU process groups and the registration entry point."""
from .modules import first_tensor, unwrap
from .setup_env import register_all_modules

__all__ = ['register_all_modules', 'first_tensor', 'unwrap']
