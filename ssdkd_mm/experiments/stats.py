# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Benchmark statistics over seeds: mean ± std, time to accuracy and the
per-method summary with speed-ups against a reference."""
import statistics
from collections import OrderedDict
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from .methods import METHODS


def mean_std(
        values: Iterable[Optional[float]]
) -> Tuple[Optional[float], Optional[float]]:
    """Mean and sample std of the values that are not None (std 0 for one
    value; ``(None, None)`` for none)."""
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, std


def time_to_accuracy(records: List[Dict], target: float) -> Optional[float]:
    """Training seconds of the first snapshot reaching ``target`` top-1
    (records of one run); None if none does."""
    for r in sorted(records, key=lambda r: r['train_s']):
        if r['top1'] >= target:
            return r['train_s']
    return None


def summarize(records: List[Dict], teacher_top1: float,
              fractions: Sequence[float] = (0.6, 0.7, 0.8),
              reference: str = 'fast2') -> Dict[str, Dict]:
    """Per method: final top-1 mean ± std over seeds, the curve (per
    snapshot point), time-to-accuracy per fraction of the teacher, and the
    ratio of the reference's time-to-accuracy to the method's."""
    by_method: Dict[str, Dict[int, List[Dict]]] = OrderedDict()
    for r in records:
        by_method.setdefault(r['method'], {}).setdefault(r['seed'],
                                                         []).append(r)
    out: Dict[str, Dict] = OrderedDict()
    for method, runs in by_method.items():
        finals = [max(rs, key=lambda r: r['train_s']) for rs in runs.values()]
        s = OrderedDict(label=METHODS.get(method, {}).get('label', method),
                        seeds=sorted(runs))
        for key in ('top1', 'train_s', 'synth_time_s', 'kd_time_s',
                    'kd_steps', 'synthetic_images'):
            s[key], s[key + '_std'] = mean_std(f[key] for f in finals)
        s['kd_batch'] = finals[0]['kd_batch']
        s['of_teacher'] = s['top1'] / teacher_top1
        points = sorted({r['point_s'] for rs in runs.values() for r in rs
                         if r['point_s'] is not None})
        s['curve'] = []
        for p in points:
            at = [r for rs in runs.values() for r in rs if r['point_s'] == p]
            mean, std = mean_std(r['top1'] for r in at)
            t_mean, _ = mean_std(r['train_s'] for r in at)
            s['curve'].append(dict(point_s=p, train_s=t_mean, top1=mean,
                                   top1_std=std, n=len(at)))
        s['curve'].append(dict(point_s=None, train_s=s['train_s'],
                               top1=s['top1'], top1_std=s['top1_std'],
                               n=len(finals)))
        s['tta'] = OrderedDict()
        for frac in fractions:
            times = [time_to_accuracy(rs, frac * teacher_top1)
                     for rs in runs.values()]
            reached = [t for t in times if t is not None]
            mean, std = mean_std(reached)
            # a run that did not arrive trained its whole budget without
            # reaching the target: its time to accuracy is above that
            missed = [f['train_s'] for f, t in zip(finals, times)
                      if t is None]
            s['tta'][f'{frac:g}'] = dict(
                target_top1=frac * teacher_top1, mean_s=mean, std_s=std,
                reached=len(reached), runs=len(times),
                # a run that never reached it counts as not reached: the
                # mean is over the runs that did, and says how many
                all_reached=len(reached) == len(times),
                # when none arrived: time to accuracy > this (the
                # shortest training time of those runs)
                lower_bound_s=min(missed) if not reached else None)
        out[method] = s
    ref = out.get(reference)
    for s in out.values():
        s['tta_ratio_vs_' + reference] = OrderedDict()
        s['tta_ratio_bound_vs_' + reference] = OrderedDict()
        for frac, t in s['tta'].items():
            r = ref['tta'][frac] if ref else None
            ok = (r and r['all_reached'] and t['all_reached']
                  and t['mean_s'])
            s['tta_ratio_vs_' + reference][frac] = (
                r['mean_s'] / t['mean_s'] if ok else None)
            s['tta_ratio_bound_vs_' + reference][frac] = (
                None if ok or not r else speedup_bound(r, t))
    return out


def speedup_bound(ref: Dict, method: Dict) -> Optional[Dict]:
    """A bound on the speed-up (reference's time to accuracy over the
    method's) when one side did not arrive within its budget: ``>=
    budget_ref / t`` when the reference never reached the target and every
    run of the method did (in t on average); ``<= t_ref / budget`` in the
    opposite case; None otherwise (neither arrived, or only some seeds)."""
    if ref['lower_bound_s'] and method['all_reached'] and method['mean_s']:
        return dict(kind='>=', value=ref['lower_bound_s'] / method['mean_s'])
    if (method['lower_bound_s'] and ref['all_reached'] and ref['mean_s']):
        return dict(kind='<=', value=ref['mean_s'] / method['lower_bound_s'])
    return None
