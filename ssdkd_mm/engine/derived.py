# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Which keys of a completed SSD-KD config were derived, and re-deriving the
schedule on a rerun.

:func:`~ssdkd_mm.engine.config.complete_config` only fills what a config
leaves unset, and the Runner writes the completed config into the work dir
(an ordinary config, to edit and run again). Without a record, the derived
values would count as the user's on a rerun: a new ``train_cfg.max_iters``
would keep the old schedulers' ``end``/``T_max`` and the hooks' iterations,
and a new ``warmup_iters`` would clash with the hook's old one. The
completed config therefore carries

``ssdkd_derived = dict(rederived=[...], kept=[...])``

dotted paths (``custom_hooks.0.warmup_iters``): ``rederived`` (the schedule:
schedulers and hooks, which follow ``train_cfg.max_iters`` and
``warmup_iters``) are dropped and derived again on every completion;
``kept`` (data-free loader, normalisation, image size, buffer size, student
classes) were derived once from the dataset base, which the written config
no longer has, and are kept as they are. To set a ``rederived`` value by
hand, also remove its path from the list.
"""
from typing import Any, List, Tuple

KEY = 'ssdkd_derived'
#: Top-level sections whose derived values follow the schedule.
REDERIVED_SECTIONS = ('custom_hooks', 'param_scheduler')
#: Sections not worth listing key by key (replaced or resolved whole).
_WHOLE = ('train_dataloader', 'model.teacher')


def _split(path: str) -> List[Any]:
    return [int(p) if p.isdigit() else p for p in path.split('.')]


def forget_rederived(cfg) -> List[str]:
    """Drop the ``rederived`` paths recorded by an earlier completion (and
    the record itself), so they are derived again; its ``kept`` paths."""
    record = cfg.pop(KEY, None)
    if not isinstance(record, dict):
        return []
    for path in record.get('rederived') or []:
        *parents, leaf = _split(str(path))
        node = cfg
        try:
            for p in parents:
                node = node[p]
            if isinstance(node, dict) and leaf in node:
                del node[leaf]
        except (KeyError, IndexError, TypeError):
            continue  # the user changed the structure: nothing to drop
    return list(record.get('kept') or [])


def _changes(before, after, prefix: str, out: List[str]) -> None:
    if prefix in _WHOLE and before != after:
        out.append(prefix)
    elif isinstance(before, dict) and isinstance(after, dict):
        for k, v in after.items():
            path = f'{prefix}.{k}' if prefix else str(k)
            if k not in before:
                out.append(path)
            else:
                _changes(before[k], v, path, out)
    elif (isinstance(before, (list, tuple)) and isinstance(after, (list,
                                                                  tuple))
          and len(before) == len(after)):
        for i, (b, a) in enumerate(zip(before, after)):
            _changes(b, a, f'{prefix}.{i}', out)
    elif before != after:
        out.append(prefix)


def derived_paths(before: dict, after: dict) -> Tuple[List[str], List[str]]:
    """(rederived, kept) dotted paths set or changed from ``before`` to
    ``after`` (plain dicts of the config)."""
    changed: List[str] = []
    _changes(before, after, '', changed)
    rederived = [p for p in changed if p.split('.')[0] in REDERIVED_SECTIONS]
    kept = [p for p in changed if p not in rederived]
    return rederived, kept


def record(cfg, before: dict, kept_before: List[str] = ()) -> None:
    """Write ``ssdkd_derived`` into ``cfg`` from its state ``before`` the
    completion and the ``kept`` paths of an earlier one (nothing when
    nothing was derived)."""
    after = cfg.to_dict()
    after.pop(KEY, None)
    rederived, kept = derived_paths(before, after)
    kept = list(kept_before) + [p for p in kept if p not in kept_before]
    if rederived or kept:
        cfg[KEY] = dict(rederived=rederived, kept=kept)
