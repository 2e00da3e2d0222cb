# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Image sources of SSD-KD, built by ``type=`` from
:data:`ssdkd_mm.registry.SYNTHESIZERS` (see :mod:`.base` for the
interface)."""
from .base import BaseSynthesizer, SynthesisInputs, upgrade_inversion_cfg
from .inversion import InversionSynthesizer
from .noise import NoiseSynthesizer

__all__ = [
    'BaseSynthesizer', 'InversionSynthesizer', 'NoiseSynthesizer',
    'SynthesisInputs', 'upgrade_inversion_cfg'
]
