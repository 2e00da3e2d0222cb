# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Data synthesis of SSD-KD: the inversion round."""
from .inversion import InversionSynthesizer, autocast, check_autocast

__all__ = ['InversionSynthesizer', 'autocast', 'check_autocast']
