from .runner import SSDKDRunner
from .val_loop import SSDKDValLoop, evaluate_model

__all__ = ['SSDKDRunner', 'SSDKDValLoop', 'evaluate_model']
