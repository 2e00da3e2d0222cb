# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Fail fast, before the Runner is built, when a config points at files that
are not there: the teacher checkpoint and the datasets' folders.

mmengine would otherwise fail minutes later (after building every model) with
a traceback deep inside a dataset's ``load_data_list``.
"""
import os.path as osp
from typing import Iterator, List, Tuple

from mmengine.config import Config, ConfigDict

#: Dataset types that download their files when missing (``download=True``).
_DOWNLOADING = ('CIFAR10', 'CIFAR100', 'MNIST', 'FashionMNIST')
_NO_FILES = ('SSDKDPlaceholderDataset', )


def _local(path) -> bool:
    return isinstance(path, str) and bool(path) and '://' not in path


def _type_name(dataset: dict) -> str:
    return str(dataset.get('type', '')).split('.')[-1]


def _leaves(dataset, key: str) -> Iterator[Tuple[str, dict]]:
    """(config key, dataset dict) of every file-backed dataset, looking
    through wrappers (``dataset=``) and concatenations (``datasets=[...]``)."""
    if not isinstance(dataset, dict):
        return
    if isinstance(dataset.get('datasets'), (list, tuple)):
        for i, d in enumerate(dataset['datasets']):
            yield from _leaves(d, f'{key}.datasets.{i}')
    elif isinstance(dataset.get('dataset'), dict):
        yield from _leaves(dataset['dataset'], f'{key}.dataset')
    else:
        yield key, dataset


def missing_data(cfg: Config,
                 loaders=('train_dataloader', 'val_dataloader',
                          'test_dataloader')) -> List[str]:
    """One message per missing dataset file or folder of ``loaders``."""
    problems = []
    for loader in loaders:
        loader_cfg = cfg.get(loader)
        if not isinstance(loader_cfg, dict):
            continue
        for key, ds in _leaves(loader_cfg.get('dataset'), f'{loader}.dataset'):
            name = _type_name(ds)
            if name in _NO_FILES or (name in _DOWNLOADING
                                     and ds.get('download', True)):
                continue
            root = ds.get('data_root')
            if root and not osp.isdir(root):
                problems.append(
                    f'{key}.data_root: folder {root!r} does not exist '
                    f'({name}). Put the dataset there or set '
                    f'`--cfg-options {key}.data_root=/path/to/data`.')
                continue
            prefix = ds.get('data_prefix') or {}
            paths = [(f'{key}.data_prefix.{k}', v) for k, v in (
                prefix.items() if isinstance(prefix, dict) else
                [('img_path', prefix)]) if isinstance(v, str) and v]
            if isinstance(ds.get('ann_file'), str) and ds['ann_file']:
                paths.append((f'{key}.ann_file', ds['ann_file']))
            for k, path in paths:
                full = path if osp.isabs(path) or not root else osp.join(
                    root, path)
                if '://' not in full and not osp.exists(full):
                    problems.append(
                        f'{k}: {full!r} does not exist ({name}'
                        f'{", data_root=" + repr(root) if root else ""}). '
                        'Check the dataset layout or set '
                        f'`--cfg-options {k}=...`.')
    return problems


def check_data_roots(cfg: Config, loaders=('train_dataloader',
                                           'val_dataloader',
                                           'test_dataloader')) -> None:
    """Raise FileNotFoundError naming every missing dataset file or folder
    and the config key to set."""
    problems = missing_data(cfg, loaders)
    if problems:
        raise FileNotFoundError('dataset files are missing:\n  ' +
                                '\n  '.join(problems))


def missing_val_paths(dataloader) -> List[str]:
    """Local ``data_root`` / ``ann_file`` paths of a val dataloader config
    that do not exist (empty when the config is not a dict, e.g. a built
    dataloader, or when nothing local is named)."""
    if not isinstance(dataloader, dict):
        return []
    paths = []
    for _, ds in _leaves(dataloader.get('dataset'), 'dataset'):
        root, ann = ds.get('data_root'), ds.get('ann_file')
        if _local(root):
            paths.append(root)
        if _local(ann):
            paths.append(ann if osp.isabs(ann) or not _local(root) else
                         osp.join(root, ann))
    return [p for p in paths if not osp.exists(osp.expanduser(p))]


def check_val_data(dataloader) -> None:
    """Raise ``FileNotFoundError`` naming the missing val files.

    Called by :class:`SSDKDValLoop` once building the val set has failed (so
    datasets that download themselves still can): SSD-KD trains without real
    data but evaluates the student (and the teacher, once) on the real val
    set, and a missing one otherwise shows up as a dataset-specific error
    deep in the Runner.

    Args:
        dataloader (dict): The ``val_dataloader`` config.
    """
    missing = missing_val_paths(dataloader)
    if missing:
        raise FileNotFoundError(
            f'Validation data not found: {", ".join(missing)}. SSD-KD trains '
            'data-free but evaluates on the real val set: put it there, point '
            '`val_dataloader.dataset.data_root` at it, or train without '
            'validation (--cfg-options val_cfg=None val_dataloader=None '
            'val_evaluator=None).')


def check_teacher_ckpt(cfg: Config) -> None:
    """Raise FileNotFoundError when ``model.teacher_ckpt`` is set but is not
    a file."""
    model = cfg.get('model')
    ckpt = model.get('teacher_ckpt') if isinstance(
        model, (dict, ConfigDict)) else None
    if ckpt and '://' not in ckpt and not osp.isfile(osp.expanduser(ckpt)):
        raise FileNotFoundError(
            f'teacher checkpoint {ckpt!r} is not a file. Download or train '
            'the teacher and set `--cfg-options model.teacher_ckpt=PATH` (or '
            'the config variable `teacher_ckpt`).')


def check_teacher_fits(cfg: Config) -> None:
    """Build an SSD-KD config's teacher and load ``model.teacher_ckpt`` into
    it strictly (before the Runner prints its environment and config), so
    a checkpoint of another architecture stops with our one-paragraph
    summary (RuntimeError) instead of a page of output."""
    model = cfg.get('model')
    if not isinstance(model, (dict, ConfigDict)) or not str(
            model.get('type', '')).endswith('SSDKDDistillation'):
        return
    ckpt, teacher = model.get('teacher_ckpt'), model.get('teacher')
    if not ckpt or '://' in ckpt or not isinstance(teacher,
                                                    (dict, ConfigDict)):
        return
    from mmrazor.registry import MODELS

    from ..models.cfg_path import resolve_model_cfg
    from ..models.teacher import load_teacher
    load_teacher(MODELS.build(resolve_model_cfg(teacher, 'teacher')), ckpt)


def preflight(cfg: Config, loaders=('train_dataloader', 'val_dataloader',
                                    'test_dataloader'),
              teacher: bool = False) -> None:
    """The file checks (FileNotFoundError with every fix to make), and
    with ``teacher`` :func:`check_teacher_fits` (RuntimeError)."""
    check_teacher_ckpt(cfg)
    check_data_roots(cfg, loaders)
    if teacher:
        check_teacher_fits(cfg)
