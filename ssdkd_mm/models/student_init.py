# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""A student's ``Pretrained`` initialisation and config-relative paths.

* A student config taken by ``cfg_path`` (e.g. an mmseg config naming
  ImageNet weights ``open-mmlab://…``/``mmcls://…``/``https://…``) would
  download them when the student is built; data-free distillation starts
  the student from random weights, so an *inherited* remote ``Pretrained``
  initialisation is dropped (and said). One set on ``model.architecture``
  itself is the user's deliberate choice and kept.
* A local ``Pretrained`` checkpoint and a local ``cfg_path`` are resolved
  against the folder of the config that names them (mmengine's ``_base_``
  rule), not the working directory.
"""
import os.path as osp
from typing import List, Optional

__all__ = ['anchor_cfg_path', 'neutralise_student_init', 'is_remote']


def is_remote(checkpoint) -> bool:
    return isinstance(checkpoint, str) and '://' in checkpoint


def _anchored(path: str, folder: Optional[str]) -> str:
    if (not folder or not isinstance(path, str) or '::' in path
            or is_remote(path) or osp.isabs(osp.expanduser(path))):
        return path
    candidate = osp.join(folder, path)
    return candidate if osp.exists(candidate) else path


def anchor_cfg_path(entry, cfg_file: Optional[str]) -> None:
    """A local relative ``cfg_path`` of ``entry``, resolved against the
    folder of ``cfg_file`` when the file is there (in place)."""
    if isinstance(entry, dict) and isinstance(entry.get('cfg_path'), str):
        folder = osp.dirname(osp.abspath(cfg_file)) if cfg_file else None
        entry['cfg_path'] = _anchored(entry['cfg_path'], folder)


def _pretrained(init) -> List[dict]:
    inits = init if isinstance(init, (list, tuple)) else [init]
    return [i for i in inits
            if isinstance(i, dict) and i.get('type') == 'Pretrained']


def neutralise_student_init(model, student, cfg_file: Optional[str]
                            ) -> Optional[str]:
    """Drop the student's inherited remote ``Pretrained`` backbone
    initialisation and anchor local ones (in ``model.architecture``, in
    place); a note, or None."""
    arch = model.get('architecture')
    if not isinstance(arch, dict) or not isinstance(student, dict):
        return None
    own = (arch.get('backbone') or {}).get('init_cfg', None) if isinstance(
        arch.get('backbone'), dict) else None
    explicit = 'backbone' in arch and isinstance(arch['backbone'], dict) \
        and 'init_cfg' in arch['backbone']
    if explicit:
        folder = osp.dirname(osp.abspath(cfg_file)) if cfg_file else None
        for init in _pretrained(own):
            init['checkpoint'] = _anchored(init.get('checkpoint'), folder)
        return None
    inherited = _pretrained((student.get('backbone') or {}).get('init_cfg'))
    if not inherited:
        return None
    src = arch.get('cfg_path')
    folder = osp.dirname(osp.abspath(src)) if isinstance(src, str) and \
        '::' not in src else None
    if not isinstance(arch.get('backbone'), dict):
        arch['backbone'] = {}
    if any(is_remote(i.get('checkpoint')) or not folder for i in inherited):
        arch['backbone']['init_cfg'] = None
        return ('student: no pretrained initialisation (its config names '
                f"{inherited[0].get('checkpoint')}; set model.architecture."
                'backbone.init_cfg to opt in)')
    anchored = [dict(i, checkpoint=_anchored(i.get('checkpoint'), folder))
                for i in inherited]
    arch['backbone']['init_cfg'] = (
        anchored[0] if len(anchored) == 1 else anchored)
    return None
