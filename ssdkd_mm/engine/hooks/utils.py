# Copyright (c) ssdkd_mm contributors. All rights reserved.
from mmengine.model import is_model_wrapper

CKPT_KEY = 'ssdkd'


def get_algorithm(runner):
    """The SSD-KD algorithm under the runner's (possibly wrapped) model."""
    model = runner.model
    model = model.module if is_model_wrapper(model) else model
    if not hasattr(model, 'buffer') or not hasattr(model, 'synthesize'):
        raise TypeError('SSD-KD hooks need model type SSDKDDistillation, got '
                        f'{type(model).__name__}')
    return model


def log_scalar(runner, name: str, value) -> None:
    """Log under ``train/ssdkd/<name>`` (LogProcessor only collects
    ``train/`` scalars)."""
    runner.message_hub.update_scalar(f'train/ssdkd/{name}', float(value))
