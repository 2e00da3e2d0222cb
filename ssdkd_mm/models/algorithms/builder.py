# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Building :class:`SSDKDDistillation`'s parts from its config dicts, and
the building-time checks: each turns a mismatch of the config's parts into
one error naming the key to change."""
from typing import Callable, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import OptimWrapperDict

from mmrazor.registry import MODELS
from ...registry import SYNTHESIZERS
from ...replay import (ModulatingFunction, PrioritizedReplay, PriorityRule,
                       PrioritySampler, ReplayBuffer)
from ..synthesis import upgrade_inversion_cfg
from ..teacher import freeze, load_teacher
from . import settings
from .student_step import StudentStep

#: ReplayBuffer arguments the algorithm sets (not config keys).
_BUFFER_FIXED = ('img_shape', 'label_dim', 'device')


def build_settings(task, inversion: Optional[dict], kd: Optional[dict],
                   modulating: Optional[dict], replay_buffer: Optional[dict],
                   sampler: Optional[dict], priority: Optional[dict]):
    """The synthesizer, the student step, φ and the replay's checked
    settings (``dict(buffer=…, sampler=PrioritySampler, rule=PriorityRule)``),
    before any model is built: a bad knob fails first."""
    synthesizer = settings.build_registered(
        SYNTHESIZERS, upgrade_inversion_cfg(inversion), 'inversion',
        'InversionSynthesizer')
    kd_step = settings.build(StudentStep, kd, 'kd')
    task.check_kd(kd_step.cwd_weight)
    buf_cfg = settings.check_keys(
        replay_buffer, settings.accepted(ReplayBuffer, _BUFFER_FIXED) |
        {'storage_device'}, 'replay_buffer')
    sampler = settings.build(PrioritySampler, sampler, 'sampler')
    rule = settings.build(PriorityRule, priority, 'priority', ('eps', ),
                          eps=sampler.eps)
    check_capacity(
        buf_cfg.get('capacity', settings.default(ReplayBuffer, 'capacity')),
        buf_cfg.get('unbounded'), kd_step.batch_size)
    phi = ModulatingFunction(**settings.check_keys(
        modulating, settings.accepted(ModulatingFunction), 'modulating'))
    return synthesizer, kd_step, phi, dict(buffer=buf_cfg, sampler=sampler,
                                           rule=rule)


def build_replay(replay_cfg: dict, img_shape, label_dim, view_cache,
                 divergence) -> PrioritizedReplay:
    """The prioritised replay from :func:`build_settings`' settings."""
    buf_cfg = dict(replay_cfg['buffer'])
    storage = buf_cfg.pop('storage_device', None)
    buffer = settings.build(ReplayBuffer, buf_cfg, 'replay_buffer',
                            _BUFFER_FIXED, img_shape=tuple(img_shape),
                            device='cpu', label_dim=label_dim)
    return PrioritizedReplay(buffer, replay_cfg['sampler'],
                             replay_cfg['rule'], storage_device=storage,
                             view_cache=view_cache, divergence=divergence)


def build_teacher(teacher, ckpt, strict: bool) -> nn.Module:
    """The teacher from its dict (or module), loaded from the local
    checkpoint ``ckpt`` and frozen."""
    teacher = MODELS.build(teacher) if isinstance(teacher, dict) else teacher
    if ckpt is not None:
        load_teacher(teacher, ckpt, strict)
    else:
        print_log(
            'SSDKDDistillation: teacher_ckpt is None, the teacher keeps '
            'its initial weights (only sensible in tests).',
            logger='current', level=30)
    freeze(teacher)
    return teacher


def check_capacity(capacity, unbounded: bool, batch_size: int) -> None:
    if not unbounded and isinstance(capacity, int) and capacity < batch_size:
        raise ValueError(
            f'replay_buffer.capacity ({capacity}) is smaller than '
            f'kd.batch_size ({batch_size}); raise the '
            'capacity or lower the KD batch size.')


def infer_num_classes(task, teacher: nn.Module, student: nn.Module) -> int:
    """C from the teacher's head (else the student's); both must agree."""
    t_n = task.head_classes(teacher)
    s_n = task.head_classes(student)
    n = t_n if t_n is not None else s_n
    if n is None:
        raise ValueError('Cannot infer the number of classes from the '
                         'teacher; set `model.num_classes`.')
    t_n, s_n = t_n or n, s_n or n
    if t_n != s_n:
        raise ValueError(f'The teacher predicts {t_n} classes but the '
                         f'student {s_n}; set the student head\'s '
                         'num_classes to the teacher\'s.')
    return n


def normalisation(preprocessor, channels: int
                  ) -> Tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) of the data preprocessor, shaped (1, C, 1, 1), for
    ``channels``-channel synthetic images."""
    mean = getattr(preprocessor, 'mean', None)
    std = getattr(preprocessor, 'std', None)
    if mean is None or std is None:
        raise ValueError(
            'SSDKDDistillation needs a data_preprocessor with mean and std'
            ' (synthetic images in [0, 1] are normalised with them); set '
            '`model.data_preprocessor` with `mean`/`std`.')
    if mean.numel() != channels:
        raise ValueError(
            f'The generator makes {channels}-channel images but the data '
            f'preprocessor normalises {mean.numel()} channels; set '
            '`model.generator.nc` to the teacher\'s input channels.')
    return (mean.detach().clone().view(1, -1, 1, 1),
            std.detach().clone().view(1, -1, 1, 1))


@torch.no_grad()
def check_generator_fits_teacher(generator: nn.Module, teacher: nn.Module,
                                 task, normalize: Callable,
                                 num_classes: int,
                                 device: torch.device) -> None:
    """One generated image through the teacher: its shape must be an input
    the teacher accepts, and the teacher must predict ``num_classes``
    classes on it."""
    mode = generator.training
    generator.eval()  # no BN update; a batch of 1 is fine in eval
    try:
        # A private RNG: building the model must not shift the seed.
        z = torch.randn(1, generator.latent_dim,
                        generator=torch.Generator().manual_seed(0))
        x01 = generator(z.to(device))
    finally:
        generator.train(mode)
    shape = tuple(x01.shape[1:])
    if shape != tuple(generator.img_shape):
        raise ValueError(
            'The generator declares img_shape '
            f'{tuple(generator.img_shape)} but makes {shape} images.')
    try:
        logits = task.logits(teacher, normalize(x01))
    except Exception as e:  # the teacher's own shape error, re-worded
        raise ValueError(
            f'The generator makes {shape} images (C, H, W) that the '
            f'teacher cannot take ({type(e).__name__}: {e}). Set '
            '`model.generator` (img_size, nc) to the input size and '
            'channels the teacher was trained on.') from e
    if logits.dim() < 2 or logits.shape[1] != num_classes:
        raise ValueError(
            f'On the generator\'s {shape} images the teacher gives logits '
            f'of shape {tuple(logits.shape)}, expected {num_classes} '
            'classes in dim 1; check `model.generator` img_size against '
            'the teacher\'s input size.')


def check_train_step(data, optim_wrapper, persisted_by: Optional[str]
                     ) -> None:
    """A train step needs the two optim wrappers and, under a Runner's loop
    (``data`` is its batch), the hook that persists the state."""
    if not isinstance(optim_wrapper, OptimWrapperDict):
        raise TypeError(
            'SSDKDDistillation needs optim_wrapper with keys '
            "'architecture' and 'generator' built by "
            "constructor='mmrazor.SeparateOptimWrapperConstructor'.")
    if data is not None and persisted_by is None:
        raise RuntimeError(
            "SSD-KD state would not be saved: add dict(type='mmrazor."
            "SSDKDInversionHook') to custom_hooks (it persists "
            "checkpoint['ssdkd']).")
