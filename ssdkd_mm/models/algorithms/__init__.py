from .mmrazor_datafree import (DAFLGeneratorChannels,
                               FixedDAFLDataFreeDistillation,
                               FixedDataFreeDistillation,
                               ZSKTGeneratorChannels)
from .ssdkd import SSDKDDistillation
from .task_adapters import (ClsTaskAdapter, SegTaskAdapter,
                            build_task_adapter)

__all__ = [
    'SSDKDDistillation', 'ClsTaskAdapter', 'SegTaskAdapter',
    'build_task_adapter', 'FixedDataFreeDistillation',
    'FixedDAFLDataFreeDistillation', 'DAFLGeneratorChannels',
    'ZSKTGeneratorChannels'
]
