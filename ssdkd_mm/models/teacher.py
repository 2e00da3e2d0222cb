# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Loading a frozen teacher from a local checkpoint, strictly, with errors
that say what to fix (shared by SSD-KD and the fixed mmrazor baselines)."""
import logging
import os.path as osp

import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.runner.checkpoint import (_load_checkpoint,
                                        _load_checkpoint_to_model)


def load_teacher(teacher: nn.Module,
                 ckpt: str,
                 strict: bool = True,
                 key: str = 'model.teacher_ckpt') -> None:
    """Load ``ckpt`` into ``teacher`` (a leading ``module.`` is stripped),
    mark it initialised, and freeze it: no grad, eval mode.

    Args:
        teacher (nn.Module): The teacher model.
        ckpt (str): Path of a local checkpoint.
        strict (bool): Strict loading. Defaults to True.
        key (str): The config key that sets ``ckpt``, named in errors.
    """
    if not osp.isfile(osp.expanduser(ckpt)):
        raise FileNotFoundError(
            f'Teacher checkpoint not found: {ckpt!r}. Set `{key}` (or the '
            'config variable `teacher_ckpt`) to a local checkpoint of the '
            'teacher model.')
    try:
        state = _load_checkpoint(ckpt, map_location='cpu')
    except Exception as e:  # torch/pickle raise many different types
        raise RuntimeError(
            f'Teacher checkpoint {ckpt!r} cannot be read '
            f'({type(e).__name__}: {e}). The file is truncated, corrupt, '
            'not readable by this user, or not a PyTorch checkpoint; '
            'download or copy it again.') from e
    if not isinstance(state, dict):
        raise RuntimeError(
            f'Teacher checkpoint {ckpt!r} holds a {type(state).__name__}, '
            'not a state dict (or a dict with a `state_dict` key).')
    try:
        _load_checkpoint_to_model(
            teacher, state, strict=strict, revise_keys=[(r'^module\.', '')])
    except RuntimeError as e:
        # mmengine's message lists every key: the log file gets it, the
        # user our summary (no chained traceback repeating the list).
        logged = log_to_file(
            f'Teacher checkpoint {ckpt!r}, strict loading: {e}')
        raise RuntimeError(
            f'Teacher checkpoint {ckpt!r} does not match the teacher '
            f'model (strict loading): {key_mismatch(teacher, state, e)}. '
            f'Check that the teacher model set next to `{key}` is the config '
            'the checkpoint was trained with (and that its keys carry no '
            "extra prefix such as 'teacher.' or 'architecture.')"
            + ('; the full key lists are in the log file' if logged else '')
            + '.') from None
    # Loaded weights must survive Runner._init_model_weights().
    teacher._is_init = True
    freeze(teacher)


def log_to_file(message: str) -> bool:
    """``message`` at DEBUG level into the current logger's log files only
    (whatever their level), not on the console; False when there is no
    log file (e.g. before the Runner exists)."""
    logger = MMLogger.get_current_instance()
    record = logger.makeRecord(logger.name, logging.DEBUG, __file__, 0,
                               message, None, None)
    files = [h for h in logger.handlers
             if isinstance(h, logging.FileHandler)]
    for handler in files:
        handler.handle(record)
    return bool(files)


def freeze(teacher: nn.Module) -> None:
    """No grad and eval mode (the algorithms keep it in eval mode)."""
    teacher.requires_grad_(False)
    teacher.eval()


def key_mismatch(model: nn.Module, state: dict, error: Exception) -> str:
    """A short account of a failed strict load: key counts with a few
    examples, or the (shape) error itself."""
    saved = state.get('state_dict', state)
    saved = {k[7:] if k.startswith('module.') else k for k in saved}
    wanted = set(model.state_dict())
    missing, unexpected = sorted(wanted - saved), sorted(saved - wanted)
    if not missing and not unexpected:
        return str(error)[:1000]
    return (f'{len(missing)} missing and {len(unexpected)} unexpected '
            f'keys (e.g. {(missing + unexpected)[:3]})')
