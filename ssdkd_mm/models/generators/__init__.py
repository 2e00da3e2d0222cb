from .fast_generator import SSDKDGenerator

__all__ = ['SSDKDGenerator']
