from .val_loop import SSDKDValLoop

__all__ = ['SSDKDValLoop']
