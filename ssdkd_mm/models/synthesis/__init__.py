# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Data synthesis of SSD-KD: the inversion round."""
from .inversion import InversionSynthesizer

__all__ = ['InversionSynthesizer']
