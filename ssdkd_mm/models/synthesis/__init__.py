# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Image sources of SSD-KD, built by ``type=`` from
:data:`ssdkd_mm.registry.SYNTHESIZERS` (see :mod:`.base` for the
interface). DeepInversion, CMI and DFQ run the published methods
(``--method deepinv|deepinv-fast|cmi|dfq``)."""
from .base import BaseSynthesizer, SynthesisInputs, upgrade_inversion_cfg
from .cmi import CMISynthesizer
from .deepinversion import DeepInversionSynthesizer
from .dfq import DFQSynthesizer
from .inversion import InversionSynthesizer
from .noise import NoiseSynthesizer

__all__ = [
    'BaseSynthesizer', 'CMISynthesizer', 'DeepInversionSynthesizer',
    'DFQSynthesizer', 'InversionSynthesizer', 'NoiseSynthesizer',
    'SynthesisInputs', 'upgrade_inversion_cfg'
]
