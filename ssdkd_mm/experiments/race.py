# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""The race (issue 30): how long does each method take to reach 90 / 95 /
98 % of the teacher's top-1, on one machine, in one sitting?

* every method × seed runs one after the other in this process, seeds in
  the outer loop (an interrupted race leaves paired seeds), each run for
  the same wall-clock budget B with its learning-rate schedule fitted to B
  (:func:`.common.fit_to_budget`);
* :class:`SSDKDSnapshotHook` copies the student every ``grid`` × B seconds
  of training-loop time (default 5 %) and at the end; the copies are
  evaluated on the real test split after the run (never on the clock);
* a run's time to X is the training time of its first snapshot at or above
  X (an upper bound within one grid step); a run that never gets there
  gives a lower bound, its training time at the end (≈ B);
* ratios (the default's mean time to 98 % over a peer's or an ablation
  cell's) are computed on intervals, so a side that did not arrive makes
  the ratio a bound and the JSON says which.

Finished (method, seed) runs are kept in ``records.jsonl`` (one record per
snapshot) and never rerun. The outputs (``race.json``, ``race.md``,
``race_accuracy.png``) are written by :mod:`.race_report`.
"""
import functools
import json
import math
import os
import os.path as osp
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from .methods import GROUPS, METHODS, RACE_ABLATION, resolve_methods
from .report import cpu_name
from .stats import mean_std, time_to_accuracy
from .race_records import load_records
from .testbeds import DEFAULT as DEFAULT_TESTBED
from .testbeds import get_testbed

#: The published peers, in the order of the issue (those present in
#: :data:`.methods.METHODS` race).
PEERS = ('fast2', 'fast5', 'fast10', 'deepinv', 'cmi', 'dfq', 'dafl',
         'zskt', 'dfad')
#: Peers far behind on this task: one seed (a lower bound) is enough.
ONE_SEED = ('fast10', 'deepinv', 'cmi', 'dfq', 'dafl', 'zskt', 'dfad')
#: Fractions of the teacher's top-1 the race times.
TARGETS = (0.90, 0.95, 0.98)
#: How each run's learning-rate schedule relates to the times it is read at.
SCHEDULE = (
    'One run per method and seed, fitted to the budget B: '
    'SSDKDTimeBudgetHook measures the seconds per iteration (re-estimated '
    'as the run goes) and sets max_iters so that the loop ends at B, '
    'stretching every scheduler that ends at max_iters (the student\'s '
    'cosine, the generator\'s) to that end, and the sampler\'s beta '
    'follows max_iters: the schedule anneals at B (a run that overruns is '
    'cut at B). The student is read on the snapshot grid at t < B, '
    'mid-schedule, its learning rate not yet annealed; a time to X is the '
    'first grid time at or above X. Every method gets the same treatment. '
    'A run fitted to a budget of t would usually be better at t than a '
    'longer run read at t, and the grid rounds up, so each time to X is an '
    'upper bound on that method\'s time with a schedule fitted to it, for '
    'all methods alike; only the final top-1 is read at an annealed '
    'schedule.')


def race_methods() -> List[str]:
    """The race's default field: SSD-KD, its ablation cells and every
    published peer present in the method table."""
    names = ['ssdkd'] + GROUPS['race-ablation'] + list(PEERS)
    return [n for n in names if n in METHODS]


def grid_points(budget_s: float, grid: float = 0.05) -> List[float]:
    """Snapshot times k·grid·B below B (the end is always taken)."""
    if not 0 < grid < 1:
        raise ValueError(f'the grid must be in (0, 1), got {grid}')
    n = int(round(1 / grid))
    return [budget_s * k * grid for k in range(1, n) if k * grid < 1 - 1e-9]


def plan_runs(methods: Sequence[str], seeds: Sequence[int],
              one_seed: Sequence[str] = ONE_SEED) -> List[Tuple[str, int]]:
    """(method, seed) in running order: seeds outer, methods inner; the
    ``one_seed`` methods only on the first seed."""
    return [(m, s) for i, s in enumerate(seeds) for m in methods
            if i == 0 or m not in one_seed]


# ----------------------------------------------------------------- statistics
def run_times(recs: List[Dict], target: float):
    """One run's time to ``target``: seconds, or ``{'lower_bound': t}``
    (its training time at the end) when it never got there."""
    t = time_to_accuracy(recs, target)
    if t is not None:
        return float(t)
    return {'lower_bound': float(max(r['train_s'] for r in recs))}


def aggregate(per_seed: Sequence):
    """Mean ± std over seeds of per-run times to X: ``[m, s]`` when every
    run arrived; else ``{'lower_bound': mean with the non-arrivals at their
    end time, 'reached': k, 'of': n}`` (the true mean is above it)."""
    if not per_seed:
        return None
    exact = [t for t in per_seed if not isinstance(t, dict)]
    if len(exact) == len(per_seed):
        return list(mean_std(exact))
    lo = [t['lower_bound'] if isinstance(t, dict) else t for t in per_seed]
    return dict(lower_bound=mean_std(lo)[0], reached=len(exact),
                of=len(per_seed))


def interval(entry) -> Tuple[Optional[float], float]:
    """(lo, hi) of a time to X: exact ``[m, s]`` or a number -> (m, m);
    ``{'lower_bound': t[, 'upper_bound': u]}`` -> (t, u or inf); None ->
    (None, inf)."""
    if entry is None:
        return None, math.inf
    if isinstance(entry, dict):
        return entry['lower_bound'], entry.get('upper_bound') or math.inf
    m = entry[0] if isinstance(entry, (list, tuple)) else entry
    return m, m


def ratio(num, den):
    """num / den on intervals: a number when both are exact, else
    ``{'lower_bound': a, 'upper_bound': b}`` with the side that is known
    (None when neither is)."""
    a_lo, a_hi = interval(num)
    b_lo, b_hi = interval(den)
    if a_lo is None or b_lo is None or b_lo <= 0:
        return None
    lo = a_lo / b_hi if b_hi < math.inf else None
    hi = a_hi / b_lo if a_hi < math.inf else None
    if lo is not None and hi is not None and math.isclose(lo, hi):
        return lo
    if lo is None and hi is None:
        return None
    out = {}
    if lo is not None:
        out['lower_bound'] = lo
    if hi is not None:
        out['upper_bound'] = hi
    return out


def fastest(entries: Dict[str, object]) -> Tuple[Optional[str], object]:
    """The fastest of several methods' times to X, as a time to X: exact
    when the smallest lower end is an exact time (nothing can beat it);
    else ``{'lower_bound': smallest lower end}`` and, when some method
    arrived, ``'upper_bound'``: the fastest exact time. Returns (name of
    the smallest lower end, entry)."""
    known = {n: interval(e) for n, e in entries.items()
             if interval(e)[0] is not None}
    if not known:
        return None, None
    # smallest lower end; an exact time wins a tie
    name = min(known, key=lambda n: (known[n][0], known[n][1] == math.inf))
    lo, hi = known[name]
    if hi < math.inf:
        return name, lo
    upper = min(h for _, h in known.values())
    return name, dict(lower_bound=lo, **(
        {'upper_bound': upper} if upper < math.inf else {}))


def paired(a: Dict, b: Dict) -> Dict:
    """Per-seed ratios a/b over the seeds both ran (times to X per seed),
    and their mean ± std when every one is exact (the spread)."""
    seeds = [s for s in a if s in b]
    per = {str(s): ratio(a[s], b[s]) for s in seeds}
    exact = [r for r in per.values() if isinstance(r, float)]
    return dict(per_seed=per, mean_std=list(mean_std(exact))
                if exact and len(exact) == len(per) else None)


def summarize_race(records: List[Dict], teacher_top1: float,
                   targets: Sequence[float] = TARGETS,
                   default: str = 'ssdkd',
                   ablation: Sequence[str] = tuple(GROUPS['race-ablation']),
                   peers: Sequence[str] = PEERS) -> Dict:
    """The race's JSON body from the snapshot records (see the module
    docstring); ``methods`` in the order they first appear."""
    runs: Dict[str, Dict[int, List[Dict]]] = {}
    for r in records:
        runs.setdefault(r['method'], {}).setdefault(r['seed'], []).append(r)
    keys = [f'{round(f * 100):d}' for f in targets]
    methods, per_seed = [], {}
    for name, by_seed in runs.items():
        seeds = sorted(by_seed)
        finals = [max(by_seed[s], key=lambda r: r['train_s']) for s in seeds]
        per_seed[name] = {k: {s: run_times(by_seed[s], f * teacher_top1)
                              for s in seeds}
                          for k, f in zip(keys, targets)}
        m = dict(
            name=name, label=METHODS.get(name, {}).get('label', name),
            seeds=seeds,
            time_to_s={k: aggregate([per_seed[name][k][s] for s in seeds])
                       for k in keys},
            time_to_s_per_seed={k: {str(s): v for s, v in d.items()}
                                for k, d in per_seed[name].items()},
            final_top1=list(mean_std(f['top1'] for f in finals)),
            budget_s=finals[0]['budget_s'],
            train_s=list(mean_std(f['train_s'] for f in finals)))
        for key, out in (('kd_steps', 'student_steps'), ('synthetic_images',
                          'synthetic_images')):  # means, whole numbers
            mean = mean_std(f.get(key) for f in finals)[0]
            m[out] = None if mean is None else round(mean)
        for key in ('synth_time_s', 'kd_time_s'):
            m[key] = mean_std(f.get(key) for f in finals)[0]
        m['kd_batch'] = finals[0].get('kd_batch')
        m['curves'] = {str(s): [[r['train_s'], r['top1']] for r in sorted(
            by_seed[s], key=lambda r: r['train_s'])] for s in seeds}
        if finals[0].get('options'):
            m['options'] = finals[0]['options']
        methods.append(m)
    by_name = {m['name']: m for m in methods}
    out = dict(protocol='race', teacher_top1=teacher_top1,
               targets={k: f * teacher_top1 for k, f in zip(keys, targets)},
               methods=methods, default=default, ratios={})
    if default not in by_name:
        return out
    d = by_name[default]
    for k in keys:
        comp = {}
        for group, names in (('peers', peers), ('ablation', ablation)):
            present = [n for n in names if n in by_name and n != default]
            cells = {n: dict(ratio=ratio(d['time_to_s'][k],
                                         by_name[n]['time_to_s'][k]),
                             paired=paired(per_seed[default][k],
                                           per_seed[n][k]))
                     for n in present}
            name, best = fastest({n: by_name[n]['time_to_s'][k]
                                  for n in present})
            comp[group] = dict(fastest=name,
                               fastest_exact=None if best is None else
                               not isinstance(best, dict),
                               ratio_vs_fastest=ratio(d['time_to_s'][k],
                                                      best),
                               each=cells)
        out['ratios'][k] = comp
    if '98' in out['ratios']:
        r98 = out['ratios']['98']
        out.update(
            fastest_peer_98=r98['peers']['fastest'],
            ratio_vs_fastest_peer_98=r98['peers']['ratio_vs_fastest'],
            fastest_ablation_98=r98['ablation']['fastest'],
            ratio_vs_ablation_98=r98['ablation']['ratio_vs_fastest'],
            ratio_vs_ablation_98_each={
                n: c['ratio'] for n, c in r98['ablation']['each'].items()},
            ratio_vs_ablation_98_paired={
                n: c['paired'] for n, c in r98['ablation']['each'].items()})
    return out


# ----------------------------------------------------------------- the runs
def cpu_capability() -> str:
    """torch's CPU kernel level (``AVX2``, ``AVX512``, ...)."""
    return str(torch.backends.cpu.get_cpu_capability())


def resolve_race(spec: Optional[Sequence[str]],
                 variants: Optional[Dict[str, Dict]] = None) -> List[str]:
    """Method names from ``spec`` (names, the grid's groups, ``race``: the
    default field) plus the ``variants`` (name -> dict(base, options))."""
    variants = variants or {}
    for name, v in variants.items():
        if name in METHODS:
            raise ValueError(f'variant {name!r} would shadow a method of '
                             'the table; name it differently')
        if v['base'] not in METHODS:
            raise ValueError(f'variant {name!r}: unknown base method '
                             f"{v['base']!r}")
    out: List[str] = []
    for item in spec or ['race']:
        names = (race_methods() if item == 'race' else
                 [item] if item in variants else resolve_methods([item]))
        out += [n for n in names if n not in out]
    return out + [n for n in variants if n not in out]


def run_race(budget_s: float,
             seeds: Sequence[int] = (0, 1, 2),
             methods: Optional[Sequence[str]] = None,
             variants: Optional[Dict[str, Dict]] = None,
             one_seed: Sequence[str] = ONE_SEED,
             default: str = 'ssdkd',
             grid: float = 0.05,
             targets: Sequence[float] = TARGETS,
             work_dir: str = 'work_dirs/race',
             data_root: str = 'data/fashion_mnist',
             teacher_dir: Optional[str] = None,
             testbed: str = DEFAULT_TESTBED,
             results_json: Optional[str] = None,
             command: str = '',
             resume: bool = True,
             prepare_data: bool = True,
             cfg_options: Optional[Dict[str, Dict]] = None,
             plan_only: bool = False,
             run_fn: Optional[Callable] = None) -> Dict:
    """Run the race (module docstring) and write its outputs to
    ``work_dir`` (and ``results_json``, with the table and plot beside it).

    Args:
        variants: name -> ``dict(base=METHOD, options={KEY: VALUE})``: a
            method of the table with config overrides (e.g. the default's
            best variant), raced under its own name.
        one_seed: methods run on the first seed only (lower bounds).
        cfg_options: family (``'ssdkd'``, ``'mmrazor'``) -> overrides of
            every method of that family (e.g. small batches in tests).
        plan_only: print the planned runs and their timed seconds, run
            nothing.
        testbed: the teacher-student pair (:mod:`.testbeds`); its configs
            and, unless ``teacher_dir`` is given, its teacher cache.
        run_fn: the runner of one run (default :func:`.runs.run_method` on
            ``testbed``).
    """
    from .race_report import write_outputs
    from .report import machine_info
    variants = dict(variants or {})
    tb = get_testbed(testbed)
    teacher_dir = teacher_dir or tb['teacher_dir']
    names = resolve_race(methods, variants)
    if default not in names:
        raise ValueError(f'the default {default!r} is not among the raced '
                         f'methods {names}')
    plan = plan_runs(names, seeds, one_seed)
    # every record carries these; a resumed race must match them
    machine = dict(cpu=cpu_name(), cpu_capability=cpu_capability(),
                   grid=grid)
    rec_file = osp.join(work_dir, 'records.jsonl')
    records: List[Dict] = []
    if resume and osp.isfile(rec_file):
        records = load_records(rec_file, budget_s, machine, testbed,
                               variants)
    done = {(r['method'], r['seed']) for r in records}
    todo = [p for p in plan if p not in done]
    n_snap = len(grid_points(budget_s, grid)) + 1
    print(f'[race] testbed {testbed}: {tb["pair"]}', flush=True)
    print(f'[race] {len(plan)} runs of {budget_s:g} s, {len(todo)} to go: '
          f'{len(todo) * budget_s / 3600:.2f} h of timed training, plus '
          f'start-up and {n_snap} test-split evaluations per run (off the '
          'clock)', flush=True)
    for name, seed in todo:
        print(f'[race]   {name}, seed {seed}', flush=True)
    if plan_only:
        return dict(plan=plan, todo=todo)
    import ssdkd_mm  # noqa: F401  (compat + registration)
    from ssdkd_mm.datasets import prepare_fashion_mnist
    from ssdkd_mm.utils import register_all_modules
    from .demo import train_teacher
    from .runs import run_method
    register_all_modules(init_default_scope=False)
    run_fn = run_fn or functools.partial(run_method, testbed=testbed)
    os.makedirs(work_dir, exist_ok=True)
    if prepare_data:
        prepare_fashion_mnist(data_root)
    teacher = train_teacher(teacher_dir, data_root, 'cls', tb['teacher_cfg'])
    points = grid_points(budget_s, grid)
    for name, seed in todo:
        print(f'\n[race {time.strftime("%H:%M:%S")}] {name}, seed {seed}, '
              f'{budget_s:g} s', flush=True)
        base = variants[name]['base'] if name in variants else name
        opts = dict((cfg_options or {}).get(METHODS[base]['family']) or {})
        opts.update(variants.get(name, {}).get('options') or {})
        recs = run_fn(base, seed, teacher['checkpoint'], data_root,
                      budget_s, points, osp.join(work_dir, name),
                      cfg_options=opts or None)
        recs = [dict(r, method=name, options=variants.get(name, {}).get(
            'options'), testbed=testbed, **machine) for r in recs]
        with open(rec_file, 'a') as f:
            for r in recs:
                f.write(json.dumps(r) + '\n')
        records += recs
    planned = set(plan)
    records = [r for r in records if (r['method'], r['seed']) in planned]
    result = summarize_race(records, teacher['top1'], targets, default)
    info = machine_info()
    result.update(
        machine=info['processor'], cpu_capability=machine['cpu_capability'],
        testbed=testbed, testbed_pair=tb['pair'], seeds=list(seeds),
        budget_s=budget_s,
        grid_s=[round(p, 2) for p in points], schedule=SCHEDULE,
        one_seed=[n for n in one_seed if n in names],
        variants=variants, command=command,
        date=time.strftime('%Y-%m-%d %H:%M:%S %Z'), machine_info=info)
    write_outputs(result, work_dir, results_json)
    return result
