from .inversion_hook import SSDKDInversionHook
from .priority_sampler_hook import SSDKDPrioritySamplerHook
from .replay_buffer_hook import SSDKDReplayBufferHook, save_image_grid

__all__ = [
    'SSDKDInversionHook', 'SSDKDReplayBufferHook', 'SSDKDPrioritySamplerHook',
    'save_image_grid'
]
