# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Config dicts of :class:`SSDKDDistillation` → component arguments.

Every knob has one source: the signature of the component that uses it
(its default) and that component's own checks (its range). This module only
rejects unknown or moved keys and names the config key in the component's
error, e.g. ``sampler.alpha (priority exponent α) must be >= 0``.
"""
import inspect
from typing import Callable, Dict, Iterable, Optional

#: Keys that moved to another config dict (issue "One home for each concept
#: of the paper"): old ``section.key`` → new ``section.key``.
MOVED = {
    'sampler.priority_tau': 'priority.tau',
    'sampler.priority_uses_phi': 'priority.uses_phi',
    'sampler.new_priority': 'priority.new_entry',
    'inversion.insert_top_k': 'priority.insert_top_k',
    'kd.importance_weighting': 'sampler.importance_weighting',
    'kd.is_weight_norm': 'sampler.is_weight_norm',
    'replay_buffer.device': 'replay_buffer.storage_device',
}


def accepted(fn: Callable, exclude: Iterable[str] = ()) -> set:
    """Keyword arguments of ``fn`` (a class: of its ``__init__``)."""
    params = inspect.signature(fn).parameters
    return {
        k for k, p in params.items()
        if k != 'self' and p.kind in (p.POSITIONAL_OR_KEYWORD,
                                      p.KEYWORD_ONLY)
    } - set(exclude)


def default(fn: Callable, name: str):
    """The default of ``fn``'s argument ``name``."""
    return inspect.signature(fn).parameters[name].default


def check_keys(given: Optional[dict], valid: Iterable[str],
               section: str) -> Dict:
    """``given`` as a dict, or a KeyError naming unknown and moved keys."""
    given = dict(given or {})
    valid = set(valid)
    unknown = sorted(set(given) - valid)
    if unknown:
        moved = [f'{section}.{k} is now {MOVED[f"{section}.{k}"]}'
                 for k in unknown if f'{section}.{k}' in MOVED]
        hint = f' ({"; ".join(moved)})' if moved else ''
        raise KeyError(f'unknown key(s) {unknown} in {section}{hint}; valid '
                       f'keys are {sorted(valid)}')
    return given


def build(component: Callable, given: Optional[dict], section: str,
          exclude: Iterable[str] = (), **fixed):
    """``component(**given, **fixed)`` after :func:`check_keys`; its
    ``ValueError`` is re-raised with the config section in front."""
    kwargs = check_keys(given, accepted(component, exclude), section)
    try:
        return component(**kwargs, **fixed)
    except ValueError as e:
        raise ValueError(f'{section}.{e}') from e


def build_registered(registry, given: Optional[dict], section: str,
                     default_type: str, **fixed):
    """``given['type']`` (default ``default_type``) from ``registry``, built
    as :func:`build` builds a component (unknown keys and range errors name
    ``section``)."""
    kwargs = dict(given or {})
    kwargs.pop('_scope_', None)
    name = kwargs.pop('type', default_type)
    component = registry.get(name) if isinstance(name, str) else name
    if component is None:
        raise KeyError(f'{section}.type {name!r} is not a registered '
                       f'{registry.name}; known: '
                       f'{sorted(registry.module_dict)}')
    return build(component, kwargs, section, **fixed)
