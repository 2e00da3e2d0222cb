# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Unscoped dataset and metric types of a user's dataset base resolve in the
teacher's task package (mmpretrain / mmseg).

A dataset base written like mmpretrain's own (``dataset=dict(type=
'FashionMNIST', ...)``, no ``_scope_``) relies on the default scope; the
SSD-KD val loop is built in the ``ssdkd_mm``/``mmrazor`` scope, whose
registries hold neither mmpretrain's nor mmseg's datasets, transforms and
metrics, so the val loader stopped with ``KeyError: 'FashionMNIST is not in
the ssdkd_mm::dataset registry'``. Bases inherited as ``mmpretrain::…``
are scoped by mmengine itself. :func:`scope_eval_parts` gives each unscoped
val/test dataset and metric that the task package knows its ``_scope_``;
the pipeline's transforms are built inside that scope, so they resolve too.
"""
import importlib
from typing import Optional

__all__ = ['scope_eval_parts', 'TASK_PACKAGES']

TASK_PACKAGES = {'cls': 'mmpretrain', 'seg': 'mmseg'}
_LOADERS = ('val_dataloader', 'test_dataloader')
_EVALUATORS = ('val_evaluator', 'test_evaluator')


def _known(package: str, registry: str, name) -> bool:
    if not isinstance(name, str) or not name or '.' in name:
        return False  # a class, or already `pkg.Type`
    reg = getattr(importlib.import_module(f'{package}.registry'), registry)
    try:
        return reg.get(name) is not None
    except (KeyError, ImportError):
        return False


def _scope(part, package: str, registry: str) -> int:
    """Set ``_scope_`` on an unscoped dict ``part`` whose type ``package``
    knows; 1 when it did."""
    if not isinstance(part, dict) or '_scope_' in part:
        return 0
    inner = part
    while isinstance(inner, dict) and isinstance(inner.get('dataset'),
                                                 dict):
        inner = inner['dataset']  # a wrapper: the wrapped set decides
    if _known(package, registry, inner.get('type')) or _known(
            package, registry, part.get('type')):
        part['_scope_'] = package
        return 1
    return 0


def scope_eval_parts(cfg, task: str) -> Optional[str]:
    """Scope the unscoped val/test datasets and metrics of ``cfg`` in the
    ``task``'s package (in place); a note of what was scoped, or None."""
    package = TASK_PACKAGES.get(task)
    if package is None:
        return None
    n = 0
    for key in _LOADERS:
        loader = cfg.get(key)
        if isinstance(loader, dict):
            n += _scope(loader.get('dataset'), package, 'DATASETS')
    for key in _EVALUATORS:
        ev = cfg.get(key)
        if isinstance(ev, dict) and isinstance(ev.get('metrics'), list):
            ev = ev['metrics']
        for metric in ev if isinstance(ev, (list, tuple)) else [ev]:
            n += _scope(metric, package, 'METRICS')
    if n:
        return (f'{n} unscoped val/test dataset(s) and metric(s): '
                f'_scope_={package!r} (the teacher\'s task)')
    return None
