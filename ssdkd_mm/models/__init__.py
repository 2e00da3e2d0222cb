from .algorithms import *  # noqa: F401,F403
from .augment import BatchAugment, BatchMix
from .backbones import *  # noqa: F401,F403
from .generators import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403

__all__ = ['BatchAugment', 'BatchMix']
