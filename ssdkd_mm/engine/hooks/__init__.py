from .bn_recalibration_hook import SSDKDBNRecalibrationHook
from .checkpoint_hook import SSDKDCheckpointHook
from .inversion_hook import SSDKDInversionHook
from .priority_sampler_hook import SSDKDPrioritySamplerHook
from .replay_buffer_hook import SSDKDReplayBufferHook, save_image_grid
from .snapshot_hook import SSDKDSnapshotHook, progress
from .sync_count_hook import SSDKDSyncCountHook
from .time_budget_hook import SSDKDTimeBudgetHook

__all__ = [
    'SSDKDCheckpointHook', 'SSDKDInversionHook', 'SSDKDReplayBufferHook',
    'SSDKDPrioritySamplerHook', 'SSDKDTimeBudgetHook', 'SSDKDSnapshotHook',
    'SSDKDBNRecalibrationHook', 'SSDKDSyncCountHook', 'progress',
    'save_image_grid'
]
