from .deep_generator import SSDKDDeepGenerator
from .fast_generator import SSDKDGenerator

__all__ = ['SSDKDGenerator', 'SSDKDDeepGenerator']
