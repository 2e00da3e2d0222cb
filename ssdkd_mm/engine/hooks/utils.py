# Copyright (c) ssdkd_mm contributors. All rights reserved.
from ...utils.modules import unwrap

CKPT_KEY = 'ssdkd'

#: The hook that saves and restores the algorithm's whole state
#: (``ssdkd_state_dict()`` under ``checkpoint['ssdkd']``). Training without
#: it would lose that state on resume; the algorithm's ``train_step`` also
#: refuses a Runner's batches until it registered itself.
PERSISTING_HOOKS = ('SSDKDInversionHook', )


def require_persisting_hooks(runner) -> None:
    """Refuse to train SSD-KD when a hook that persists its state is
    missing from the runner (one line naming the fix)."""
    present = {type(h).__name__ for h in getattr(runner, 'hooks', None) or ()}
    if not present:  # not an mmengine Runner (unit tests' stand-ins)
        return
    missing = [h for h in PERSISTING_HOOKS if h not in present]
    if missing:
        raise RuntimeError(
            f'SSD-KD state would not be saved: add {missing} to custom_hooks '
            "(the bases in configs/ssdkd/_base_/ have them) - e.g. "
            f"dict(type='mmrazor.{missing[0]}').")


def get_algorithm(runner):
    """The SSD-KD algorithm under the runner's (possibly wrapped) model."""
    model = unwrap(runner.model)
    if not hasattr(model, 'buffer') or not hasattr(model, 'synthesize'):
        raise TypeError('SSD-KD hooks need model type SSDKDDistillation, got '
                        f'{type(model).__name__}')
    return model


def log_scalar(runner, name: str, value) -> None:
    """Log under ``train/ssdkd/<name>`` (LogProcessor only collects
    ``train/`` scalars)."""
    runner.message_hub.update_scalar(f'train/ssdkd/{name}', float(value))
