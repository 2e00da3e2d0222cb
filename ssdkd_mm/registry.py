# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""ssdkd_mm registers into mmrazor's registries (it is an mmrazor
algorithm); configs use ``_scope_='mmrazor'`` or the ``mmrazor.`` prefix.

A config inherited as ``ssdkd_mm::…`` gets ``_scope_='ssdkd_mm'`` on its
outer ``type`` dicts (mmengine does that for every ``pkg::`` base), so each
registry of mmengine also has an (empty) ``ssdkd_mm`` child here, under
mmrazor's registry where there is one: a build in the ``ssdkd_mm`` scope
finds our classes and mmrazor's, mmengine's and, by their prefix
(``mmpretrain.``, ``mmseg.``), the other packages' ones.
"""
import mmengine.registry as mmengine_registry
import mmrazor.registry as mmrazor_registry
from mmengine.registry import Registry
from mmrazor.registry import DATASETS, HOOKS, LOOPS, MODELS

__all__ = [
    'DATASETS', 'HOOKS', 'LOOPS', 'MODELS', 'SCOPE', 'SCOPE_REGISTRIES',
    'SYNTHESIZERS'
]

SCOPE = 'ssdkd_mm'

#: Image sources of SSD-KD (``model.inversion.type``): the inversion round,
#: the Gaussian-noise baseline and further data-free synthesis methods, each
#: a subclass of :class:`~ssdkd_mm.models.synthesis.BaseSynthesizer`.
SYNTHESIZERS = Registry(
    'synthesizer', scope=SCOPE, locations=['ssdkd_mm.models.synthesis'])


def _scope_children() -> dict:
    children = {}
    for name in dir(mmengine_registry):
        root = getattr(mmengine_registry, name)
        if not isinstance(root, Registry) or root.parent is not None:
            continue
        parent = getattr(mmrazor_registry, name, root)
        children[name] = parent.children.get(SCOPE) or Registry(
            root.name, parent=parent, scope=SCOPE)
    return children


#: ``name`` (e.g. ``'HOOKS'``) → the ``ssdkd_mm`` scope's registry.
SCOPE_REGISTRIES = _scope_children()
