from .val_loop import SSDKDValLoop, evaluate_model

__all__ = ['SSDKDValLoop', 'evaluate_model']
