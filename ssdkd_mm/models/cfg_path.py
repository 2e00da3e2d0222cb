# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Teachers and students by config path (mmrazor's convention):
``teacher=dict(cfg_path='mmpretrain::resnet/resnet34_8xb16_cifar10.py')``
stands for that config's ``model``; the other keys of the dict are merged
into it (e.g. ``head=dict(num_classes=100)``). Local paths work too."""
import os.path as osp
from typing import Optional, Tuple

from mmengine.config import Config, ConfigDict


def load_model_config(cfg_path: str) -> Tuple[Config, Optional[str]]:
    """``(config, scope)`` of the config at ``cfg_path`` (``pkg::path`` or a
    local file); ``scope`` is the config's ``default_scope``, else ``pkg``.
    """
    if '::' not in cfg_path and not osp.isfile(osp.expanduser(cfg_path)):
        raise FileNotFoundError(
            f'cfg_path {cfg_path!r}: no such config file. Give a local '
            "config file or a package's config as "
            "'mmpretrain::resnet/resnet34_8xb16_cifar10.py' (mmseg::… for "
            'mmseg).')
    path = osp.expanduser(cfg_path)
    if '::' in cfg_path:
        # mmengine's own resolution of a `_base_` entry (model-index, else
        # the package's .mim/configs); no install, no download
        path, _ = Config._get_cfg_path(cfg_path, '')
    cfg = Config.fromfile(path)
    if 'model' not in cfg:
        raise KeyError(f'cfg_path {cfg_path!r} defines no `model`: point it '
                       'at a complete model config (one that trains or '
                       'tests the model), not at a dataset or runtime base.')
    scope = cfg.get('default_scope') or (
        cfg_path.split('::')[0] if '::' in cfg_path else None)
    return cfg, scope


def resolve_model_cfg(model, role: str = 'model'):
    """``model`` with a ``cfg_path`` replaced by that config's ``model``
    (``_scope_`` set to its scope, the other keys merged in); anything else
    is returned as it is. ``pretrained=True`` is refused: checkpoints are
    strict local files here (``model.teacher_ckpt``)."""
    return resolve_model_entry(model, role)[0]


def resolve_model_entry(model, role: str = 'model'
                        ) -> Tuple[object, Optional[Config]]:
    """``(resolved model, the config it came from)``: like
    :func:`resolve_model_cfg`, with the config (``None`` for an entry
    without ``cfg_path``)."""
    if not isinstance(model, dict) or 'cfg_path' not in model:
        return model, None
    extra = dict(model)
    cfg_path = extra.pop('cfg_path')
    if extra.pop('pretrained', False):
        raise ValueError(
            f'{role}: pretrained=True would download weights; checkpoints '
            'are local files here: set pretrained=False and give the '
            "teacher's weights as model.teacher_ckpt.")
    if 'type' in extra:
        raise ValueError(f'{role}: give either cfg_path or type, not both')
    cfg, scope = load_model_config(cfg_path)
    resolved = ConfigDict(cfg.model.to_dict())
    if scope and '_scope_' not in resolved:
        resolved['_scope_'] = scope
    if extra:
        resolved = Config._merge_a_into_b(ConfigDict(extra), resolved)
    return resolved, cfg
