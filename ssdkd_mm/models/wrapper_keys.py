# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Checkpoint keys without the DDP wrapper (1 GPU <-> N GPUs)."""
from mmengine.model import is_model_wrapper


def rename_prefix(state_dict: dict, old: str, new: str) -> None:
    """In place (order and ``_metadata`` kept): keys ``old…`` → ``new…``."""
    items = list(state_dict.items())
    state_dict.clear()
    for k, v in items:
        state_dict[new + k[len(old):] if k.startswith(old) else k] = v
    meta = getattr(state_dict, '_metadata', None)
    if meta is not None:
        old_m, new_m = old.rstrip('.'), new.rstrip('.')
        for k in [k for k in meta if k == old_m or k.startswith(old)]:
            meta[new_m + k[len(old_m):]] = meta.pop(k)


def strip_wrapper_keys(module, state_dict, prefix, local_metadata):
    """``architecture.module.x`` → ``architecture.x``.

    Under MMSeparateDistributedDataParallel the student and the generator are
    each wrapped, so ``state_dict()`` puts the wrapper in their keys, while
    mmengine's loader unwraps wrappers at every level and expects keys
    without it: a multi-GPU ``--resume`` silently (``strict=False``) kept
    the initial student and generator. Unwrapped keys load with mmengine on
    1 or N GPUs, and in ``extract_student``.
    """
    for name, child in module.named_children():
        if is_model_wrapper(child):
            rename_prefix(state_dict, f'{prefix}{name}.module.',
                          f'{prefix}{name}.')
