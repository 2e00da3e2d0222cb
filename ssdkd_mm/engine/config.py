# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Completing an SSD-KD config built from an OpenMMLab dataset base and the
data-free bases ``ssdkd_mm::ssdkd/_base_/ssdkd_cls.py`` / ``ssdkd_seg.py``.

A user writes what only they know (teacher, student, checkpoint, their
dataset base, a buffer size when it cannot be told) and
:func:`complete_config` derives the rest, at config time, before anything is
built. It only fills what the config leaves unset; what it sets is logged in
one line and is written into the work dir's config by the Runner (an
ordinary config, to edit and run again):

* ``train_dataloader`` → the data-free placeholder (training reads no image;
  the dataset base's training set is only looked at for its size and image
  size);
* ``model.data_preprocessor`` (type, mean, std, …) from the dataset base's
  ``data_preprocessor``, else from the teacher config's (mmseg keeps it in
  the model), taken once;
* ``model.generator.img_size`` / ``nc``: from the config's ``img_size``, a
  crop or resize of the pipelines, or the dataset type; ``nc`` from the
  mean's length;
* ``model.replay_buffer.capacity``: 10 % of the training set when the
  dataset type tells its size (CIFAR-10/100, (Fashion-)MNIST, ImageNet, …);
* the student's ``num_classes`` from the teacher's head;
* the schedules from ``train_cfg.max_iters`` and ``warmup_iters``: the
  schedulers' ``begin``/``end``/``T_max``, the inversion hook's
  ``warmup_iters`` and the sampler hook's ``begin_iter``.

:class:`SSDKDRunner` (``runner_type`` of the bases) applies it, so any
``tools/train.py`` that builds ``runner_type`` runs these configs; a config
that inherits ``ssdkd_mm::…`` needs ``import ssdkd_mm`` before it is read
(ours and ``mim train ssdkd_mm`` do that; mmengine resolves ``_base_``
before ``custom_imports``).
"""
import copy
from typing import List, Optional, Tuple

from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log

from ..models.cfg_path import resolve_model_entry
from ..models.student_init import anchor_cfg_path, neutralise_student_init
from . import derived
from .task_scope import scope_eval_parts
from .train_set import TRAIN_SET_SIZES, train_set_size

__all__ = ['complete_config', 'load_config', 'ConfigCompletionError',
           'PLACEHOLDER_LOADER',
           'TRAIN_SET_SIZES', 'IMAGE_SIZES', 'BUFFER_FRACTION']

#: The data-free training loader: one empty item per iteration (the
#: algorithm draws its batches from the replay buffer).
PLACEHOLDER_LOADER = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='mmrazor.SSDKDPlaceholderDataset'))

#: Image sides of datasets whose pipelines need no crop or resize.
IMAGE_SIZES = {'CIFAR10': 32, 'CIFAR100': 32, 'MNIST': 28,
               'FashionMNIST': 28, 'SSDKDFashionMNIST': 28}
BUFFER_FRACTION = 0.1

_PREPROCESSOR = {'cls': 'mmpretrain.ClsDataPreprocessor',
                 'seg': 'mmseg.SegDataPreProcessor'}
_SIZE_TRANSFORMS = ('RandomCrop', 'RandomResizedCrop', 'CenterCrop',
                    'Resize', 'RandomResize', 'ResizeEdge')


class ConfigCompletionError(ValueError):
    """A value the config must set because it cannot be derived."""


def _type_name(cfg: Optional[dict]) -> str:
    t = (cfg or {}).get('type', '')
    return t.split('.')[-1] if isinstance(t, str) else getattr(
        t, '__name__', '')


def is_ssdkd(cfg: Config) -> bool:
    return _type_name(cfg.get('model')) == 'SSDKDDistillation'


def _loader_dataset(loader: Optional[dict]) -> Optional[dict]:
    ds = (loader or {}).get('dataset')
    while isinstance(ds, dict) and ('dataset' in ds or 'datasets' in ds):
        if 'dataset' in ds:  # wrappers
            ds = ds['dataset']
            continue
        # ConcatDataset: the first member stands for the pipeline and type,
        # the size is that of the whole (see train_set.train_set_size)
        members = [m for m in ds['datasets'] or [] if isinstance(m, dict)]
        if not members:
            return None
        first = ConfigDict(copy.deepcopy(dict(members[0])))
        first['_members'] = [copy.deepcopy(dict(m)) for m in members]
        return first
    return ds if isinstance(ds, dict) else None


def _pretrained_init(part) -> bool:
    init = (part or {}).get('init_cfg') if isinstance(part, dict) else None
    inits = init if isinstance(init, (list, tuple)) else [init]
    return any(isinstance(i, dict) and i.get('type') == 'Pretrained'
               for i in inits)


def _head_classes(model: Optional[dict], task: str) -> Optional[int]:
    if not isinstance(model, dict):
        return None
    head = model.get('decode_head' if task == 'seg' else 'head') or {}
    if isinstance(head, (list, tuple)):  # cascade decode heads
        head = head[-1] if head else {}
    n = head.get('num_classes')
    return int(n) if isinstance(n, int) else None


def _size_from_pipeline(pipeline) -> Optional[int]:
    for t in pipeline or []:
        if not isinstance(t, dict) or _type_name(t) not in _SIZE_TRANSFORMS:
            continue
        for key in ('crop_size', 'scale', 'size'):
            v = t.get(key)
            if isinstance(v, int):
                return v
            if (isinstance(v, (tuple, list)) and len(v) == 2
                    and all(isinstance(s, int) for s in v)):
                if _type_name(t) in ('Resize', 'RandomResize') and v[0] != v[
                        1]:
                    continue  # an aspect-keeping range, not the input size
                return int(min(v))
    return None


def _derive_img_size(cfg: Config, train_ds: Optional[dict],
                     preproc: dict) -> Tuple[Optional[int], str]:
    if cfg.get('img_size'):
        return int(cfg.img_size), '`img_size`'
    size = preproc.get('size')  # mmseg's SegDataPreProcessor pads to it
    if isinstance(size, (tuple, list)) and len(size) == 2:
        return int(min(size)), 'data_preprocessor.size'
    for name in ('train_pipeline', 'test_pipeline', 'val_pipeline'):
        s = _size_from_pipeline(cfg.get(name))
        if s:
            return s, name
    if train_ds:
        s = _size_from_pipeline(train_ds.get('pipeline'))
        if s:
            return s, 'the training pipeline'
        name = _type_name(train_ds)
        if name in IMAGE_SIZES:
            return IMAGE_SIZES[name], f'the {name} dataset'
    return None, ''


def _fill_schedule(cfg: Config, notes: List[str]) -> None:
    train_cfg = cfg.get('train_cfg') or {}
    max_iters = train_cfg.get('max_iters')
    if not isinstance(max_iters, int) or max_iters < 1:
        raise ConfigCompletionError(
            'train_cfg.max_iters must be set (an int >= 1, the length of the '
            'whole run: warm-up rounds plus student steps)')
    hook_warmups = [h.get('warmup_iters') for h in cfg.get('custom_hooks')
                    or [] if _type_name(h) == 'SSDKDInversionHook']
    # the top-level warmup_iters, else an explicit config's hook value
    warmup = cfg.get('warmup_iters', next(
        (w for w in hook_warmups if w is not None), 0))
    filled = 0
    for hook in cfg.get('custom_hooks') or []:
        name = _type_name(hook)
        if name == 'SSDKDInversionHook':
            given = hook.get('warmup_iters')
            if given is not None and given != warmup:
                raise ConfigCompletionError(
                    f'two warm-ups: warmup_iters = {warmup} and the '
                    f'SSDKDInversionHook\'s warmup_iters = {given}; set only '
                    'the top-level warmup_iters')
            filled += _setdefault(hook, 'warmup_iters', warmup)
        elif name == 'SSDKDPrioritySamplerHook':
            filled += _setdefault(hook, 'begin_iter', warmup)
    if warmup >= max_iters:
        raise ConfigCompletionError(
            f'warmup_iters ({warmup}) must be below train_cfg.max_iters '
            f'({max_iters}): the warm-up rounds are part of the run')
    scheds = cfg.get('param_scheduler')
    groups = scheds.items() if isinstance(scheds, dict) and not _type_name(
        scheds) else [('architecture', scheds)]
    for group, entries in groups:
        if entries is None:
            continue
        for s in entries if isinstance(entries, (list, tuple)) else [entries]:
            if not isinstance(s, dict) or s.get('by_epoch', True):
                continue
            filled += _setdefault(s, 'begin',
                                  warmup if group == 'architecture' else 0)
            filled += _setdefault(s, 'end', max_iters)
            if _type_name(s).startswith('Cosine'):
                filled += _setdefault(s, 'T_max', s['end'] - s['begin'])
    if filled:
        notes.append(f'schedule: {warmup} warm-up rounds + '
                     f'{max_iters - warmup} student steps = {max_iters} '
                     'iters')


def _setdefault(d: dict, key: str, value) -> int:
    """1 when ``d`` had no ``key`` and now has ``value``."""
    if key in d:
        return 0
    d[key] = value
    return 1


def complete_config(cfg: Config, log: bool = True) -> List[str]:
    """Fill what an SSD-KD config leaves unset (see the module docstring),
    in place; the notes of what was set (also logged in one line when
    ``log``). Configs of other models are returned untouched (``[]``)."""
    if not is_ssdkd(cfg):
        return []
    kept = derived.forget_rederived(cfg)  # a rerun of a completed config
    before = cfg.to_dict()
    model = cfg.model
    task = model.get('task', 'cls')
    notes: List[str] = []

    for role in ('teacher', 'architecture'):  # mmengine's _base_ rule
        anchor_cfg_path(model.get(role), cfg.filename)
    teacher, teacher_cfg = resolve_model_entry(model.get('teacher'),
                                               'teacher')
    student, _ = resolve_model_entry(model.get('architecture'),
                                     'architecture')
    if not isinstance(teacher, dict):
        raise ConfigCompletionError(
            'model.teacher must be set: a model dict or '
            "dict(cfg_path='mmpretrain::…' or a local config file)")

    # -- the teacher's weights all come from teacher_ckpt: nothing to
    # download for its initialisation (mmseg configs name ImageNet weights)
    if teacher.get('pretrained') or _pretrained_init(
            teacher.get('backbone')):
        # a cfg_path entry's own `pretrained` is mmrazor's download flag:
        # the teacher becomes its resolved model dict
        model.teacher = teacher
        teacher['pretrained'] = None
        if _pretrained_init(teacher.get('backbone')):
            teacher.backbone.init_cfg = None
        notes.append('teacher: no pretrained initialisation (teacher_ckpt '
                     'holds its weights)')

    notes += [n for n in [neutralise_student_init(model, student,
                                                  cfg.filename)] if n]

    # -- the training set: looked at, never read -------------------------
    train_ds = _loader_dataset(cfg.get('train_dataloader'))
    data_free = _type_name(train_ds) == 'SSDKDPlaceholderDataset'
    if not data_free:
        name = _type_name(train_ds) or 'no'
        cfg.train_dataloader = ConfigDict(copy.deepcopy(PLACEHOLDER_LOADER))
        notes.append(f'train_dataloader: the data-free placeholder ({name} '
                     'training set not read)')
        if teacher_cfg is not None and train_ds is None:
            train_ds = _loader_dataset(teacher_cfg.get('train_dataloader'))
    else:
        train_ds = _loader_dataset(teacher_cfg.get(
            'train_dataloader')) if teacher_cfg is not None else None

    # -- normalisation, taken once ----------------------------------------
    preproc = model.get('data_preprocessor')
    if not preproc:
        # the dataset base's (the data the val set is read with), else the
        # teacher config's (mmseg keeps it in the model)
        source, where = cfg.get('data_preprocessor'), 'data_preprocessor'
        if (not source or 'mean' not in source) and teacher_cfg is not None:
            source = (teacher_cfg.model.get('data_preprocessor')
                      or teacher_cfg.get('data_preprocessor'))
            where = "the teacher config's data_preprocessor"
        if not source or 'mean' not in source:
            raise ConfigCompletionError(
                'cannot tell the teacher\'s input normalisation: set '
                'data_preprocessor = dict(mean=[...], std=[...]) (the values '
                'the teacher was trained with), or inherit a dataset base '
                'that sets it')
        preproc = ConfigDict(copy.deepcopy(dict(source)))
        # built inside the mmrazor-scoped algorithm: the type needs its
        # package's prefix
        kind = str(preproc.pop('type', '') or _PREPROCESSOR[task])
        package = _PREPROCESSOR[task].split('.')[0]
        preproc['type'] = kind if '.' in kind else f'{package}.{kind}'
        preproc.pop('_scope_', None)
        if task == 'cls':
            n = _head_classes(teacher, task)
            if n:
                preproc.setdefault('num_classes', n)
        model.data_preprocessor = preproc
        notes.append(f'model.data_preprocessor from {where}')

    # -- the generator's image -------------------------------------------
    gen = model.get('generator')
    if isinstance(gen, dict):
        if 'nc' not in gen and preproc.get('mean') is not None:
            gen['nc'] = len(preproc['mean'])
        if 'img_size' not in gen:
            size, where = _derive_img_size(cfg, train_ds, preproc)
            if size is None:
                raise ConfigCompletionError(
                    'cannot tell the image size: set img_size = N (the side '
                    'of the square images the teacher was trained on) in '
                    'your config')
            gen['img_size'] = size
            notes.append(f'generator {size}x{size}x{gen["nc"]} (from '
                         f'{where})')

    # -- the buffer: about 10 % of the original training set -------------
    buf = model.setdefault('replay_buffer', ConfigDict())
    if buf.get('capacity') is None:
        name = _type_name(train_ds)
        n_train = train_set_size(train_ds)
        if n_train is None:
            raise ConfigCompletionError(
                'cannot tell the size of the teacher\'s training set'
                + (f' (dataset {name})' if name else '') +
                ': set model.replay_buffer.capacity, about '
                f'{BUFFER_FRACTION:.0%} of the number of training images '
                '(the paper\'s small-scale buffer)')
        buf['capacity'] = int(round(n_train * BUFFER_FRACTION))
        notes.append(f'replay_buffer.capacity {buf["capacity"]} '
                     f'({BUFFER_FRACTION:.0%} of {name}\'s {n_train})')

    # -- the student predicts the teacher's classes ----------------------
    n_teacher = _head_classes(teacher, task)
    n_student = _head_classes(student, task)
    if n_teacher is None:
        raise ConfigCompletionError(
            'cannot read num_classes from the teacher\'s '
            + ('decode_head' if task == 'seg' else 'head') +
            ': give the teacher config with its head, or set '
            'model.num_classes')
    arch = model.get('architecture')
    if isinstance(arch, dict) and n_student != n_teacher:
        keys = ['decode_head', 'auxiliary_head'] if task == 'seg' else [
            'head']
        for key in keys:
            part = student.get(key) if student else None
            if isinstance(part, dict):
                arch.setdefault(key, ConfigDict())['num_classes'] = n_teacher
            elif isinstance(part, (list, tuple)):
                arch[key] = [dict(h, num_classes=n_teacher) for h in part]
        notes.append(f'student heads: {n_teacher} classes (the teacher\'s; '
                     f'its config had {n_student})')

    _fill_schedule(cfg, notes)
    notes += [n for n in [scope_eval_parts(cfg, task)] if n]
    derived.record(cfg, before, kept)  # which keys were derived, in the config
    if log and notes:
        print_log('[ssdkd_mm] config completed: ' + '; '.join(notes) + '.',
                  logger='current')
    return notes


def load_config(path: str, log: bool = True) -> Config:
    """``Config.fromfile(path)`` completed by :func:`complete_config`: the
    config exactly as :class:`SSDKDRunner` will run it."""
    cfg = Config.fromfile(path)
    complete_config(cfg, log=log)
    return cfg
