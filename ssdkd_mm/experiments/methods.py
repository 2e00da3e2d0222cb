# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""The baselines as switches of SSD-KD's one code path, and the benchmark's
method table: SSD-KD, Fast-2/5/10, DeepInversion (``deepinv``,
``deepinv-fast``), CMI and DFQ as published (:mod:`.recipes`), Fast-k's
losses on SSD-KD's schedule (``fastK-ssdkd-schedule``), the ablation grid
and mmrazor's DAFL, ZSKT and DFAD.

Each switch set is a ``cfg.merge_from_dict`` option dict; the demo, the
benchmark and the tests use these and spell none of them out again."""
import copy
from collections import OrderedDict
from typing import Dict, List, Sequence

from .recipes import (BASELINES, FAST_K, FAST_SCHEDULE,
                      baseline_published_options, baseline_schedule,
                      fast_published_options, fast_schedule)

#: Fast-DFKD's ever-growing pool instead of SSD-KD's bounded buffer.
UNBOUNDED_POOL = {'model.replay_buffer.unbounded': True}
#: Uniform replay sampling instead of priority sampling (δ off).
UNIFORM_SAMPLING = {'model.sampler.mode': 'uniform'}
#: φ's difficulty term off (γ = 0).
NO_DIFFICULTY = {'model.modulating.gamma': 0.0}
#: φ's diversity term off.
NO_DIVERSITY = {'model.modulating.diversity': 'none'}
#: φ off: neither difficulty nor diversity.
PHI_OFF = {**NO_DIFFICULTY, **NO_DIVERSITY}
#: Fast-DFKD's replay: unbounded uniform pool, φ off (the config's
#: generator schedule); the demo's ``fast2`` variant.
FAST_SWITCHES = {**UNBOUNDED_POOL, **UNIFORM_SAMPLING, **PHI_OFF}
#: The Gaussian-noise input baseline (no inversion): the image source is
#: replaced as a whole (its inversion knobs do not apply).
NOISE_INPUT = {
    'model.inversion': dict(_delete_=True, type='NoiseSynthesizer')
}

MMRAZOR_CFGS = {
    'dafl': 'benchmark/dafl_resnet34_resnet18_fmnist.py',
    'zskt': 'benchmark/zskt_resnet34_resnet18_fmnist.py',
    'dfad': 'benchmark/dfad_resnet34_resnet18_fmnist.py',
}


def fast_options(g_steps: int, lr_g: float, lr_z: float) -> Dict:
    """Fast-DFKD through SSD-KD's switches: :data:`FAST_SWITCHES` with
    Fast's generator steps and learning rates (meta lr = lr_g × g_steps)."""
    return {
        **FAST_SWITCHES,
        'model.inversion.g_steps': g_steps,
        'model.inversion.lr_g': lr_g,
        'model.inversion.lr_z': lr_z,
        'optim_wrapper.generator.optimizer.lr': lr_g * g_steps,
    }


def ablation_options(div: bool, diff: bool, priority: bool) -> Dict:
    """One cell of {φ diversity} × {φ difficulty} × {priority/uniform}; the
    buffer stays SSD-KD's (bounded, partially updated)."""
    opts = {}
    if not div:
        opts.update(NO_DIVERSITY)
    if not diff:
        opts.update(NO_DIFFICULTY)
    if not priority:
        opts.update(UNIFORM_SAMPLING)
    return opts


def ablation_name(div: bool, diff: bool, priority: bool) -> str:
    """The cell's method name, e.g. ``'div+diff-unif'``."""
    return (f"div{'+' if div else '-'}diff{'+' if diff else '-'}"
            f"{'prio' if priority else 'unif'}")


#: name -> dict(family='ssdkd', options[, schedule]) |
#: dict(family='mmrazor', config); ``schedule`` = Fast-DFKD's published
#: epochs (:func:`.recipes.fast_schedule`), applied by :func:`apply_method`
METHODS: 'OrderedDict[str, Dict]' = OrderedDict(
    ssdkd=dict(family='ssdkd', options={}, label='SSD-KD (defaults)'))
for _k in FAST_K:
    METHODS[_k] = dict(
        family='ssdkd',
        options={**FAST_SWITCHES, **fast_published_options(_k)},
        schedule=fast_schedule(), label=f'Fast-{_k[4:]} (published recipe)')
_LABELS = {'deepinv': 'DeepInv-2k (published recipe)',
           'deepinv-fast': "DeepInv, the script's fast version",
           'cmi': 'CMI-500 (published recipe)',
           'dfq': 'DFQ (harness recipe, our loss weights)'}
for _k in BASELINES:
    # the synthesizer replaced by the method's own; its images into an
    # unbounded uniform pool (DFQ: fresh generator batches), φ and δ off
    METHODS[_k] = dict(
        family='ssdkd',
        options={**FAST_SWITCHES, **baseline_published_options(_k)},
        schedule=baseline_schedule(_k), label=_LABELS[_k])
for _k, _v in FAST_K.items():
    # the former switch: Fast-k's losses on SSD-KD's schedule, φ, δ and the
    # bounded buffer off (an ablation cell of SSD-KD)
    METHODS[f'{_k}-ssdkd-schedule'] = dict(
        family='ssdkd', options=fast_options(**_v),
        label=f'Fast-{_k[4:]} losses, SSD-KD schedule')
METHODS.update(
    dafl=dict(family='mmrazor', config=MMRAZOR_CFGS['dafl'],
              label='DAFL (mmrazor)'),
    zskt=dict(family='mmrazor', config=MMRAZOR_CFGS['zskt'],
              label='ZSKT (mmrazor)'),
    dfad=dict(family='mmrazor', config=MMRAZOR_CFGS['dfad'],
              label='DFAD (mmrazor)'),
)
for _div in (True, False):
    for _diff in (True, False):
        for _prio in (True, False):
            _name = ablation_name(_div, _diff, _prio)
            METHODS[_name] = dict(
                family='ssdkd', options=ablation_options(_div, _diff, _prio),
                label=f'ablation {_name}', ablation=True,
                # the all-on cell is SSD-KD's defaults: not run twice
                same_as='ssdkd' if (_div and _diff and _prio) else None)

GROUPS = {
    'main': ['ssdkd', 'fast2', 'fast5', 'fast10', 'dafl', 'zskt', 'dfad'],
    'ssdkd-schedule': [f'{k}-ssdkd-schedule' for k in FAST_K],
    # hours per run at their published iterations: never in 'all'
    'published': list(BASELINES),
    'ablation': [n for n, m in METHODS.items() if m.get('ablation')],
}
GROUPS['all'] = GROUPS['main'] + [
    n for n in GROUPS['ablation'] if METHODS[n]['same_as'] is None
]


#: The methods an SSD-KD config can be switched to (``--method``).
SWITCHABLE = tuple(n for n, m in METHODS.items()
                   if m['family'] == 'ssdkd' and not m.get('ablation'))

# The race's ablation cells (issue 30, ``--protocol race``): SSD-KD's
# defaults with one of its parts off; all three off is
# ``fast2-ssdkd-schedule``. Added after GROUPS and SWITCHABLE: they join
# neither the grid's groups nor ``tools/train.py --method``.
RACE_ABLATION: 'OrderedDict[str, Dict]' = OrderedDict([
    ('ssdkd-phi-off', dict(PHI_OFF)),           # φ off (γ = 0, no diversity)
    ('ssdkd-delta-off', dict(UNIFORM_SAMPLING)),  # δ off: uniform replay
    ('ssdkd-unbounded', dict(UNBOUNDED_POOL)),  # Fast-DFKD's ever-growing pool
])
for _name, _opts in RACE_ABLATION.items():
    # not ``ablation=True``: that flag means the grid's cells, which keep
    # SSD-KD's bounded buffer
    METHODS[_name] = dict(family='ssdkd', options=_opts,
                          label=f'ablation {_name}')
GROUPS['race-ablation'] = list(RACE_ABLATION) + ['fast2-ssdkd-schedule']


def apply_method(cfg, method: str, source: str = 'the config') -> None:
    """Switch the SSD-KD config ``cfg`` in place to ``method`` (one of
    :data:`SWITCHABLE`); ``'ssdkd'`` leaves it as it is.

    Raises:
        ValueError: unknown method, or a config that is not SSD-KD (the
            switches would silently do nothing there).
    """
    from ssdkd_mm.engine.config import is_ssdkd
    if method not in SWITCHABLE:
        raise ValueError(f'unknown method {method!r}; an SSD-KD config runs '
                         f'as one of {list(SWITCHABLE)}')
    if method != 'ssdkd' and not is_ssdkd(cfg):
        raise ValueError(f'--method {method} switches an SSD-KD config; '
                         f'{source} is not one (its model is not '
                         'SSDKDDistillation).')
    apply_options(cfg, method)


def apply_options(cfg, method: str) -> None:
    """Merge the SSD-KD-family ``method``'s options (and its published
    schedule, if any) into the uncompleted config ``cfg``, unchecked."""
    m = METHODS[method]
    options = copy.deepcopy(m['options'])  # merging pops '_delete_'
    inv = options.get('model.inversion')
    if isinstance(inv, dict) and inv.get('_delete_'):
        # a method's own synthesizer runs at the config's precision
        autocast = (cfg.model.get('inversion') or {}).get('autocast')
        if autocast is not None:
            inv['autocast'] = autocast
    cfg.merge_from_dict(options)
    if m.get('schedule'):
        _apply_schedule(cfg, m['schedule'])


def _apply_schedule(cfg, schedule: Dict) -> None:
    """A published schedule on the inversion hook (one round per
    ``synth_interval`` student steps, Fast-DFKD's ``reset_l0``) and the
    harness's cosine floor;
    the cosine runs from the end of the warm-up to the last student step
    (begin / end / T_max are completed by :mod:`ssdkd_mm.engine.config`
    from warmup_iters and max_iters, so apply before completing)."""
    hooks = [h for h in cfg.get('custom_hooks') or []
             if str(h.get('type', '')).endswith('SSDKDInversionHook')]
    if len(hooks) != 1:
        raise ValueError('a published schedule needs exactly one '
                         f'SSDKDInversionHook in the config, found '
                         f'{len(hooks)}')
    hooks[0]['synth_interval'] = schedule['synth_interval']
    hooks[0]['reset_l0_iter'] = schedule['reset_l0_iter']
    # the warm-up is the top-level warmup_iters (an option of the recipe)
    hooks[0].pop('warmup_iters', None)
    scheds = cfg.param_scheduler
    arch = scheds['architecture'] if 'architecture' in scheds else scheds
    for s in arch if isinstance(arch, (list, tuple)) else [arch]:
        if str(s.get('type', '')).startswith('Cosine'):
            s['eta_min'] = FAST_SCHEDULE['eta_min']
            for key in ('begin', 'end', 'T_max'):
                s.pop(key, None)  # completed from warmup_iters / max_iters


def resolve_methods(spec: Sequence[str]) -> List[str]:
    """Method names from names and group names (``main``, ``ablation``,
    ``all``), in order, without duplicates."""
    out: List[str] = []
    for item in spec:
        for name in GROUPS.get(item, [item]):
            if name not in METHODS:
                raise ValueError(
                    f'unknown method {name!r}; choose from '
                    f'{sorted(METHODS)} or a group {sorted(GROUPS)}')
            name = METHODS[name].get('same_as') or name
            if name not in out:
                out.append(name)
    return out
