# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""The data-free KD community's CIFAR teachers as mmpretrain checkpoints.

CMI, Fast-DFKD, NAYER, SpaceshipNet and CPNet all use the same teacher
checkpoints (``cifar10_resnet34.pth``, ``cifar100_wrn40_2.pth``, …: a dict
whose ``'state_dict'`` holds the plain PyTorch modules' weights). Their key
layouts, read from those repositories (no code taken from them):

* ResNet-18/34 (the DAFL / kuangliu CIFAR ResNet): ``conv1``, ``bn1``,
  ``layer{1-4}.{i}.{conv1,bn1,conv2,bn2}``, ``layer….shortcut.{0,1}`` (1×1
  conv, BN), ``linear``;
* WRN-d-k (the ZSKT wide ResNet): ``conv1``, ``block{1-3}.layer.{i}.{bn1,
  conv1,bn2,conv2}``, ``block….convShortcut``, ``bn1`` (the final norm),
  ``fc``;
* VGG-11-BN (RepDistiller's): ``block{0-4}.{j}`` for ``j`` = 3u (conv) and
  3u + 1 (BN) of the stage's u-th unit, ``classifier``.

:func:`convert_state_dict` renames them to the mmpretrain models of
``configs/cifar/`` (and mmpretrain's ``ResNet_CIFAR`` configs), then checks
the result against the model built from that config — every key present,
no extra one, every shape equal — so a converted file always loads with
``strict=True``. An mmpretrain-layout checkpoint passes through unchanged.
"""
import io
import re
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Tuple

import torch

from ..utils.atomic_io import atomic_write

#: community architecture name -> (our model config, layout family)
ARCHS: Dict[str, Tuple[str, str]] = OrderedDict(
    resnet18=('mmpretrain::resnet/resnet18_8xb16_cifar10.py', 'resnet'),
    resnet34=('mmpretrain::resnet/resnet34_8xb16_cifar10.py', 'resnet'),
    vgg11=('ssdkd_mm::cifar/vgg11-bn_cifar10.py', 'vgg'),
    wrn16_1=('ssdkd_mm::cifar/wrn16-1_cifar10.py', 'wrn'),
    wrn16_2=('ssdkd_mm::cifar/wrn16-2_cifar10.py', 'wrn'),
    wrn40_1=('ssdkd_mm::cifar/wrn40-1_cifar10.py', 'wrn'),
    wrn40_2=('ssdkd_mm::cifar/wrn40-2_cifar10.py', 'wrn'),
)
#: the classifier's weight in each community layout
CLASSIFIER_KEY = dict(resnet='linear.weight', wrn='fc.weight',
                      vgg='classifier.weight')


class ConvertError(ValueError):
    """A checkpoint that does not fit the architecture asked for."""


def _resnet_key(key: str) -> str:
    key = re.sub(r'^(layer\d+\.\d+)\.shortcut\.', r'\1.downsample.', key)
    if key.startswith('linear.'):
        return 'head.fc.' + key[len('linear.'):]
    return 'backbone.' + key


def _wrn_key(key: str) -> str:
    key = re.sub(r'^block(\d)\.layer\.(\d+)\.convShortcut\.',
                 r'layer\1.\2.shortcut.', key)
    key = re.sub(r'^block(\d)\.layer\.(\d+)\.', r'layer\1.\2.', key)
    if key.startswith('fc.'):
        return 'head.fc.' + key[len('fc.'):]
    if key.startswith('bn1.'):
        return 'backbone.bn.' + key[len('bn1.'):]
    return 'backbone.' + key


def _vgg_key(key: str) -> str:
    m = re.match(r'^block(\d)\.(\d+)\.(.*)$', key)
    if m:
        stage, j, rest = int(m.group(1)), int(m.group(2)), m.group(3)
        unit, part = divmod(j, 3)
        name = {0: 'conv', 1: 'bn'}.get(part, f'unknown{part}')
        return f'backbone.stages.{stage}.{unit}.{name}.{rest}'
    if key.startswith('classifier.'):
        return 'head.fc.' + key[len('classifier.'):]
    return 'backbone.' + key


RENAME: Dict[str, Callable[[str], str]] = dict(
    resnet=_resnet_key, wrn=_wrn_key, vgg=_vgg_key)


def load_source(path: str) -> 'OrderedDict[str, torch.Tensor]':
    """The tensors of a checkpoint file: its ``state_dict`` (or ``model``)
    entry, or the file itself when it is a plain state dict; a DataParallel
    ``module.`` prefix is dropped."""
    try:
        obj = torch.load(path, map_location='cpu', weights_only=False)
    except FileNotFoundError:
        raise
    except Exception as e:  # pickle / zip errors
        raise ConvertError(
            f'{path}: not a readable PyTorch checkpoint ({type(e).__name__}: '
            f'{e}); give the .pth file of the teacher.') from e
    if isinstance(obj, dict):
        for entry in ('state_dict', 'model', 'net'):
            if isinstance(obj.get(entry), dict):
                obj = obj[entry]
                break
    if not isinstance(obj, dict) or not obj or not all(
            isinstance(v, torch.Tensor) for v in obj.values()):
        raise ConvertError(
            f'{path}: holds no state dict of tensors (top-level keys: '
            f'{sorted(obj)[:8] if isinstance(obj, dict) else type(obj)}).')
    out = OrderedDict()
    for k, v in obj.items():
        out[k[len('module.'):] if k.startswith('module.') else k] = v
    return out


def guess_arch(state: Dict[str, torch.Tensor]) -> Optional[str]:
    """The community architecture a state dict's keys and shapes describe
    (``None`` when none of :data:`ARCHS` fits)."""
    def blocks(pattern):
        return len({m.group(1) for k in state
                    for m in [re.match(pattern, k)] if m})

    if 'linear.weight' in state and 'conv1.weight' in state:
        depth = {(2, 2, 2, 2): 18, (3, 4, 6, 3): 34}.get(
            tuple(blocks(rf'^layer{i}\.(\d+)\.') for i in range(1, 5)))
        return f'resnet{depth}' if depth else None
    if 'fc.weight' in state and 'block1.layer.0.conv1.weight' in state:
        n = blocks(r'^block1\.layer\.(\d+)\.')
        k = state['block1.layer.0.conv1.weight'].shape[0] // 16
        name = f'wrn{6 * n + 4}_{k}'
        return name if name in ARCHS else None
    if 'classifier.weight' in state and 'block0.0.weight' in state:
        convs = sum(1 for k, v in state.items()
                    if k.startswith('block') and k.endswith('.weight')
                    and v.dim() == 4)
        return 'vgg11' if convs == 8 else None
    return None


def _is_mmpretrain_layout(state: Dict[str, torch.Tensor]) -> bool:
    return any(k.startswith('backbone.') for k in state) and any(
        k.startswith('head.') for k in state)


def num_classes_of(state: Dict[str, torch.Tensor], family: str) -> int:
    for key in (CLASSIFIER_KEY[family], 'head.fc.weight'):
        if key in state:
            return int(state[key].shape[0])
    raise ConvertError(
        f'no classifier weight ({CLASSIFIER_KEY[family]!r}) in the '
        f'checkpoint: it is not a complete {family} classifier.')


def build_target(arch: str, num_classes: int) -> torch.nn.Module:
    """Our mmpretrain model for ``arch`` with ``num_classes`` outputs."""
    from mmpretrain.registry import MODELS

    from .cfg_path import resolve_model_cfg
    cfg_path = ARCHS[arch][0]
    model_cfg = resolve_model_cfg(
        dict(cfg_path=cfg_path, head=dict(num_classes=num_classes)))
    return MODELS.build(model_cfg)


def _examples(keys: List[str], n: int = 4) -> str:
    keys = sorted(keys)
    more = f' (+{len(keys) - n} more)' if len(keys) > n else ''
    return ', '.join(keys[:n]) + more


def convert_state_dict(state: Dict[str, torch.Tensor], arch: str,
                       source: str = 'the checkpoint'
                       ) -> Tuple['OrderedDict[str, torch.Tensor]', int]:
    """``(mmpretrain state dict, num_classes)`` of a community (or already
    mmpretrain) state dict for ``arch``; :class:`ConvertError` with what
    differs when it does not fit."""
    if arch not in ARCHS:
        raise ConvertError(f'--arch {arch!r}: choose one of '
                           f'{", ".join(ARCHS)}')
    family = ARCHS[arch][1]
    if _is_mmpretrain_layout(state):
        converted = OrderedDict(state)
    else:
        guessed = guess_arch(state)
        if guessed is not None and guessed != arch:
            raise ConvertError(
                f'{source} holds a {guessed} (community layout), not a '
                f'{arch}: rerun with --arch {guessed}, or give the {arch} '
                'checkpoint.')
        rename = RENAME[family]
        converted = OrderedDict((rename(k), v) for k, v in state.items())
    num_classes = num_classes_of(converted, family)
    target = build_target(arch, num_classes).state_dict()
    missing = [k for k in target if k not in converted]
    unexpected = [k for k in converted if k not in target]
    shapes = [
        f'{k} {tuple(converted[k].shape)} vs {tuple(v.shape)}'
        for k, v in target.items()
        if k in converted and converted[k].shape != v.shape
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f'{len(missing)} weights missing '
                         f'({_examples(missing)})')
        if unexpected:
            parts.append(f'{len(unexpected)} unexpected '
                         f'({_examples(unexpected)})')
        if shapes:
            parts.append(f'{len(shapes)} shapes differ '
                         f'({_examples(shapes, 2)})')
        guessed = guess_arch(state)
        hint = (f'its keys look like a {guessed}: rerun with --arch '
                f'{guessed}' if guessed and guessed != arch else
                f'check that it is a {arch} of the CMI / Fast-DFKD '
                'benchmark (or an mmpretrain checkpoint of configs/cifar/)')
        raise ConvertError(f'{source} does not fit --arch {arch}: '
                           f'{"; ".join(parts)}; {hint}.')
    ordered = OrderedDict((k, converted[k]) for k in target)
    return ordered, num_classes


def convert_checkpoint(src: str, dst: str, arch: str) -> Dict:
    """Convert ``src`` to an mmpretrain checkpoint at ``dst`` (written
    all-or-nothing) and return its ``meta``."""
    state = load_source(src)
    converted, num_classes = convert_state_dict(state, arch, source=src)
    meta = dict(
        arch=arch, num_classes=num_classes, config=ARCHS[arch][0],
        converted_from=src, converter='ssdkd_mm tools/convert_teacher.py')
    buf = io.BytesIO()
    torch.save(dict(state_dict=converted, meta=meta), buf)
    atomic_write(buf.getvalue(), dst)
    return meta


__all__ = [
    'ARCHS', 'ConvertError', 'build_target', 'convert_checkpoint',
    'convert_state_dict', 'guess_arch', 'load_source'
]
