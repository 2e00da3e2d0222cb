# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Side-by-side benchmark: SSD-KD, Fast-2/5/10, the SSD-KD ablation grid
and mmrazor's DAFL, ZSKT and DFAD distil the same Fashion-MNIST teacher for
the same wall-clock budget; the students are evaluated on the real test
split at fixed points of training time.

Every method runs in this process through mmengine's Runner with the same
placeholder training data, student, teacher, evaluation and machine. The
clock is the training loop's (synthesis + student steps + hooks, from the
first iteration); evaluation is done afterwards on weight snapshots, so it
is never counted.
"""
import csv
import json
import os
import os.path as osp
import platform
import shutil
import statistics
import time
from collections import OrderedDict
from typing import Dict, Iterable, List, Optional, Sequence

import torch
from mmengine.config import Config

from .demo import SSDKD_CFG, _set_data_root, config_path, fit_to_budget

MMRAZOR_CFGS = {
    'dafl': 'benchmark/dafl_resnet34_resnet18_fmnist.py',
    'zskt': 'benchmark/zskt_resnet34_resnet18_fmnist.py',
    'dfad': 'benchmark/dfad_resnet34_resnet18_fmnist.py',
}


def _fast(g_steps: int, lr_g: float, lr_z: float) -> Dict:
    """Fast-DFKD through SSD-KD's switches: unbounded uniform pool, φ off,
    Fast's generator steps and learning rates (meta lr = lr_g × g_steps)."""
    return {
        'model.replay_buffer.unbounded': True,
        'model.sampler.mode': 'uniform',
        'model.modulating.gamma': 0.0,
        'model.modulating.diversity': 'none',
        'model.inversion.g_steps': g_steps,
        'model.inversion.lr_g': lr_g,
        'model.inversion.lr_z': lr_z,
        'optim_wrapper.generator.optimizer.lr': lr_g * g_steps,
    }


def _ablation(div: bool, diff: bool, priority: bool) -> Dict:
    """One cell of {φ diversity} × {φ difficulty} × {priority/uniform}; the
    buffer stays SSD-KD's (bounded, partially updated)."""
    opts = {}
    if not div:
        opts['model.modulating.diversity'] = 'none'
    if not diff:
        opts['model.modulating.gamma'] = 0.0
    if not priority:
        opts['model.sampler.mode'] = 'uniform'
    return opts


def _ablation_name(div: bool, diff: bool, priority: bool) -> str:
    return (f"div{'+' if div else '-'}diff{'+' if diff else '-'}"
            f"{'prio' if priority else 'unif'}")


#: name -> dict(family='ssdkd', options) | dict(family='mmrazor', config)
METHODS: 'OrderedDict[str, Dict]' = OrderedDict(
    ssdkd=dict(family='ssdkd', options={}, label='SSD-KD (defaults)'),
    fast2=dict(family='ssdkd', options=_fast(2, 5e-3, 0.015), label='Fast-2'),
    fast5=dict(family='ssdkd', options=_fast(5, 3e-3, 0.01), label='Fast-5'),
    fast10=dict(
        family='ssdkd', options=_fast(10, 2e-3, 0.01), label='Fast-10'),
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
            _name = _ablation_name(_div, _diff, _prio)
            METHODS[_name] = dict(
                family='ssdkd', options=_ablation(_div, _diff, _prio),
                label=f'ablation {_name}', ablation=True,
                # the all-on cell is SSD-KD's defaults: not run twice
                same_as='ssdkd' if (_div and _diff and _prio) else None)

GROUPS = {
    'main': ['ssdkd', 'fast2', 'fast5', 'fast10', 'dafl', 'zskt', 'dfad'],
    'ablation': [n for n, m in METHODS.items() if m.get('ablation')],
}
GROUPS['all'] = GROUPS['main'] + [
    n for n in GROUPS['ablation'] if METHODS[n]['same_as'] is None
]


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


# --------------------------------------------------------------- configs
def build_config(method: str, teacher_ckpt: str, data_root: str,
                 budget_s: float, points_s: Sequence[float], seed: int,
                 work_dir: str,
                 cfg_options: Optional[Dict] = None) -> Config:
    """The method's config, fitted to a wall-clock budget with snapshots at
    ``points_s``."""
    m = METHODS[method]
    if m['family'] == 'ssdkd':
        cfg = Config.fromfile(config_path(SSDKD_CFG))
        cfg.merge_from_dict(m['options'])
        cfg.model.teacher_ckpt = teacher_ckpt
        warmup = cfg.warmup_iters
        # The teacher is evaluated once by the benchmark, not per run.
        for h in cfg.custom_hooks:
            if h['type'].endswith('SSDKDInversionHook'):
                h['eval_teacher'] = False
        calibrate = 50
    else:
        cfg = Config.fromfile(config_path(m['config']))
        cfg.model.teachers.res34.ckpt_path = teacher_ckpt
        warmup = 0
        # ZSKT/DFAD iterations hold 5-10 student steps: calibrate sooner.
        calibrate = 5 if cfg.model.get('student_iter', 1) > 1 else 20
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    _set_data_root(cfg, data_root)
    cfg.randomness = dict(seed=seed, diff_rank_seed=True)
    fit_to_budget(cfg, budget_s, begin_iter=warmup, calibrate_iters=calibrate)
    cfg.train_cfg.val_interval = 10**9
    cfg.train_cfg.val_begin = 10**9  # no validation in the loop at all
    cfg.custom_hooks.append(
        dict(type='mmrazor.SSDKDSnapshotHook', times_s=list(points_s)))
    cfg.default_hooks.checkpoint = None  # nothing to keep but the snapshots
    cfg.default_hooks.logger.interval = 100
    cfg.work_dir = work_dir
    cfg.experiment_name = f'{method}_seed{seed}_{time.strftime("%H%M%S")}'
    return cfg


# -------------------------------------------------------------- evaluate
def run_method(method: str, seed: int, teacher_ckpt: str, data_root: str,
               budget_s: float, points_s: Sequence[float], work_dir: str,
               metric: str = 'accuracy/top1',
               cfg_options: Optional[Dict] = None) -> List[Dict]:
    """Distil with one method and seed; one record per snapshot."""
    from mmengine.runner import Runner

    from ..engine.hooks import SSDKDSnapshotHook
    from ..engine.runner import evaluate_model
    from ..models._utils import unwrap
    cfg = build_config(method, teacher_ckpt, data_root, budget_s, points_s,
                       seed, osp.join(work_dir, method, f'seed{seed}'),
                       cfg_options)
    runner = Runner.from_cfg(cfg)
    runner.train()
    snap_hook = next(h for h in runner.hooks
                     if isinstance(h, SSDKDSnapshotHook))
    alg = unwrap(runner.model)
    student = unwrap(alg.student)
    batch = (cfg.model.kd.batch_size if METHODS[method]['family'] == 'ssdkd'
             else cfg.model.batch_size)
    records = []
    for snap in snap_hook.snapshots:
        student.load_state_dict(snap.pop('state_dict'))
        t0 = time.perf_counter()
        metrics = evaluate_model(runner.val_loop, student,
                                 alg.data_preprocessor)
        snap.update(
            method=method, seed=seed, top1=float(metrics[metric]),
            kd_batch=batch, eval_s=time.perf_counter() - t0,
            budget_s=budget_s)
        records.append(snap)
        print(f'[benchmark] {method} seed {seed}: {snap["train_s"]:.0f} s '
              f'-> {snap["top1"]:.2f} %', flush=True)
    return records


# ------------------------------------------------------------- aggregate
def _mean_std(values: Iterable[float]):
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
            s[key], s[key + '_std'] = _mean_std(f[key] for f in finals)
        s['kd_batch'] = finals[0]['kd_batch']
        s['of_teacher'] = s['top1'] / teacher_top1
        points = sorted({r['point_s'] for rs in runs.values() for r in rs
                         if r['point_s'] is not None})
        s['curve'] = []
        for p in points:
            at = [r for rs in runs.values() for r in rs if r['point_s'] == p]
            mean, std = _mean_std(r['top1'] for r in at)
            t_mean, _ = _mean_std(r['train_s'] for r in at)
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
            mean, std = _mean_std(reached)
            s['tta'][f'{frac:g}'] = dict(
                target_top1=frac * teacher_top1, mean_s=mean, std_s=std,
                reached=len(reached), runs=len(times),
                # a run that never reached it counts as not reached: the
                # mean is over the runs that did, and says how many
                all_reached=len(reached) == len(times))
        out[method] = s
    ref = out.get(reference)
    for s in out.values():
        s['tta_ratio_vs_' + reference] = OrderedDict()
        for frac, t in s['tta'].items():
            r = ref['tta'][frac] if ref else None
            ok = (r and r['all_reached'] and t['all_reached']
                  and t['mean_s'])
            s['tta_ratio_vs_' + reference][frac] = (
                r['mean_s'] / t['mean_s'] if ok else None)
    return out


# ---------------------------------------------------------------- report
def machine_info() -> Dict:
    import mmengine
    import mmrazor
    info = dict(
        platform=platform.platform(),
        processor=_cpu_name(),
        cpu_count=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        torch=torch.__version__,
        mmengine=mmengine.__version__,
        mmrazor=mmrazor.__version__,
        cuda=torch.cuda.is_available())
    if torch.cuda.is_available():
        info['gpu'] = torch.cuda.get_device_name(0)
    return info


def _cpu_name() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def write_csv(records: List[Dict], path: str) -> None:
    keys = ['method', 'seed', 'point_s', 'train_s', 'top1', 'iter',
            'kd_steps', 'kd_batch', 'synthesis_rounds', 'synthetic_images',
            'synth_time_s', 'kd_time_s', 'eval_s', 'budget_s']
    with open(path, 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction='ignore')
        w.writeheader()
        for r in records:
            w.writerow(r)


def plot(summary: Dict[str, Dict], teacher_top1: float, path: str,
         title: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
    groups = (('main methods', lambda m: not METHODS.get(m, {}).get(
        'ablation')), ('SSD-KD ablation (φ div, φ diff, sampling)',
                       lambda m: m == 'ssdkd' or METHODS.get(m, {}).get(
                           'ablation')))
    for ax, (name, keep) in zip(axes, groups):
        for method, s in summary.items():
            if not keep(method):
                continue
            xs = [c['train_s'] for c in s['curve']]
            ys = [c['top1'] for c in s['curve']]
            es = [c['top1_std'] or 0.0 for c in s['curve']]
            style = '-' if method in ('ssdkd', 'fast2') else '--'
            ax.errorbar(xs, ys, yerr=es, fmt='o' + style, capsize=3,
                        label=f"{s['label']} (n={len(s['seeds'])})",
                        linewidth=2.2 if method == 'ssdkd' else 1.2)
        ax.axhline(teacher_top1, color='k', linestyle=':', linewidth=1,
                   label=f'teacher {teacher_top1:.2f}')
        ax.set_xlabel('training wall time (s): synthesis + student steps')
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc='lower right')
    axes[0].set_ylabel('top-1 on the real test split (%), mean ± std')
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fmt(mean, std=None, digits=2) -> str:
    if mean is None:
        return '—'
    if std is None:
        return f'{mean:.{digits}f}'
    return f'{mean:.{digits}f} ± {std:.{digits}f}'


def markdown(result: Dict) -> str:
    """The results section of docs/benchmarks.md."""
    s, cfg, mach = result['summary'], result['settings'], result['machine']
    ref = cfg['reference']
    fracs = list(next(iter(s.values()))['tta']) if s else []
    lines = [
        f"Machine: {mach['processor']}, {mach['cpu_count']} cores "
        f"({mach['torch_threads']} torch threads), "
        f"{'GPU ' + mach['gpu'] if mach.get('gpu') else 'no GPU'}; "
        f"torch {mach['torch']}, mmengine {mach['mmengine']}, mmrazor "
        f"{mach['mmrazor']}; {mach['platform']}.",
        '',
        f"Settings: teacher {cfg['teacher']} (top-1 "
        f"{result['teacher_top1']:.2f} % on the real test split), student "
        f"ResNet-18 (base 16), budget {cfg['budget_s']:g} s of training-loop "
        f"time per run, snapshots at {cfg['points_s']} s and at the end, "
        f"seeds {cfg['seeds']}, evaluation on the real 10k test split "
        '(fp32, not counted in the time). Command: '
        f"`{cfg['command']}`.",
        '',
        '| method | top-1 at the end (%) | of teacher | time to '
        + ' / '.join(f'{float(f):.0%}' for f in fracs)
        + ' of teacher (s) | speed-up vs ' + METHODS[ref]['label']
        + ' (' + ' / '.join(f'{float(f):.0%}' for f in fracs) + ') '
        '| synthesis / student time (s) | student steps × batch '
        '| synthetic images |',
        '|---|---|---|---|---|---|---|---|',
    ]
    for method, m in s.items():
        tta = ' / '.join(
            (_fmt(t['mean_s'], t['std_s'], 0)
             + ('' if t['all_reached'] else f" ({t['reached']}/{t['runs']})"))
            if t['mean_s'] is not None else 'not reached'
            for t in m['tta'].values())
        ratio = ' / '.join(
            '—' if r is None else f'{r:.2f}×'
            for r in m['tta_ratio_vs_' + ref].values())
        name = f"**{m['label']}**" if method == 'ssdkd' else m['label']
        lines.append(
            f"| {name} | {_fmt(m['top1'], m['top1_std'])} | "
            f"{m['of_teacher']:.1%} | {tta} | {ratio} | "
            f"{_fmt(m['synth_time_s'], None, 0)} / "
            f"{_fmt(m['kd_time_s'], None, 0)} | "
            f"{_fmt(m['kd_steps'], None, 0)} × {m['kd_batch']} | "
            f"{_fmt(m['synthetic_images'], None, 0)} |")
    lines += [
        '',
        'Time to accuracy: training seconds of the first snapshot at or '
        'above the target, mean ± std over the runs that reached it '
        '("(k/n)": only k of n seeds did); the speed-up is the reference\'s '
        'mean time over the method\'s, given only when every seed of both '
        'reached the target. Snapshots are coarse: a time to accuracy is a '
        'snapshot time, not an interpolation.',
    ]
    if result.get('overhead'):
        o = result['overhead']
        lines += [
            '',
            '**Framework overhead** (same process, same models, same '
            'batch and precision; median of '
            f"{o['n_synth']} synthesis rounds and {o['n_kd']} KD steps):",
            '',
            '| | plugin (mmengine Runner, hooks, buffer) | plain PyTorch loop '
            '| ratio |',
            '|---|---|---|---|',
            f"| synthesis round ({o['synth_batch']} images, g={o['g_steps']})"
            f" | {o['plugin_synth_s'] * 1e3:.0f} ms | "
            f"{o['plain_synth_s'] * 1e3:.0f} ms | "
            f"{o['plugin_synth_s'] / o['plain_synth_s']:.2f} |",
            f"| KD step (batch {o['kd_batch']}) | "
            f"{o['plugin_kd_s'] * 1e3:.0f} ms | "
            f"{o['plain_kd_s'] * 1e3:.0f} ms | "
            f"{o['plugin_kd_s'] / o['plain_kd_s']:.2f} |",
        ]
    return '\n'.join(lines) + '\n'


BEGIN, END = '<!-- benchmark:begin -->', '<!-- benchmark:end -->'


def update_docs(path: str, section: str) -> None:
    """Replace the generated section of ``path`` (between the benchmark
    markers), or append it when the file has none."""
    text = ''
    if osp.isfile(path):
        with open(path) as f:
            text = f.read()
    block = f'{BEGIN}\n{section}{END}'
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = (text.rstrip() + '\n\n' if text else
                '# Benchmarks\n\n') + block + '\n'
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        f.write(text)
    os.replace(tmp, path)


# ------------------------------------------------------------------ main
def run_benchmark(methods: Sequence[str] = ('all', ),
                  seeds: Sequence[int] = (0, 1, 2),
                  budget_s: float = 150.0,
                  points: Optional[Sequence[float]] = None,
                  work_dir: str = 'work_dirs/benchmark',
                  data_root: str = 'data/fashion_mnist',
                  teacher_dir: str = 'work_dirs/demo/teacher',
                  fractions: Sequence[float] = (0.6, 0.7, 0.8),
                  reference: str = 'fast2',
                  overhead: bool = True,
                  docs: Optional[str] = None,
                  command: str = '',
                  resume: bool = True,
                  prepare_data: bool = True,
                  cfg_options: Optional[Dict[str, Dict]] = None) -> Dict:
    """Run every method × seed (records already in ``work_dir`` are reused
    when ``resume``), then write ``records.csv``, ``results.json``,
    ``accuracy_vs_time.png`` and ``benchmark.md`` (and the docs section).

    ``cfg_options`` maps a family (``'ssdkd'``, ``'mmrazor'``) to config
    overrides applied to all of its methods (e.g. smaller batches).
    ``prepare_data=False`` uses ``data_root`` as it is (no Fashion-MNIST
    preparation, e.g. a small test set)."""
    import ssdkd_mm  # noqa: F401  (compat + registration)
    from ssdkd_mm.apis.demo import train_teacher
    from ssdkd_mm.datasets import prepare_fashion_mnist
    from ssdkd_mm.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    names = resolve_methods(methods)
    if reference not in METHODS:
        raise ValueError(f'unknown reference method {reference!r}')
    if reference not in names:  # the speed-ups need it
        names.insert(0, reference)
    points = sorted(points) if points else [
        budget_s * k / 3 for k in (1, 2)]
    os.makedirs(work_dir, exist_ok=True)
    if prepare_data:
        prepare_fashion_mnist(data_root)
    teacher = train_teacher(teacher_dir, data_root, 'cls')
    rec_file = osp.join(work_dir, 'records.jsonl')
    records: List[Dict] = []
    if resume and osp.isfile(rec_file):
        with open(rec_file) as f:
            records = [json.loads(line) for line in f if line.strip()]
        records = [r for r in records if r['budget_s'] == budget_s]
    done = {(r['method'], r['seed']) for r in records}
    for seed in seeds:
        for method in names:
            if (method, seed) in done:
                continue
            print(f'\n[benchmark {time.strftime("%H:%M:%S")}] {method}, '
                  f'seed {seed}, {budget_s:g} s', flush=True)
            family = METHODS[method]['family']
            recs = run_method(method, seed, teacher['checkpoint'], data_root,
                              budget_s, points, work_dir,
                              cfg_options=(cfg_options or {}).get(family))
            with open(rec_file, 'a') as f:
                for r in recs:
                    f.write(json.dumps(r) + '\n')
            records += recs
    records = [r for r in records if r['method'] in names
               and r['seed'] in seeds]
    summary = summarize(records, teacher['top1'], fractions, reference)
    result = dict(
        teacher_top1=teacher['top1'],
        settings=dict(
            methods=names, seeds=list(seeds), budget_s=budget_s,
            points_s=[round(p, 1) for p in points], fractions=list(fractions),
            reference=reference, command=command,
            teacher='ResNet-34 (base 16), trained on the real train split',
            options={n: METHODS[n].get('options') or METHODS[n].get('config')
                     for n in names}),
        machine=machine_info(),
        summary=summary)
    if overhead:
        result['overhead'] = measure_overhead(teacher['checkpoint'],
                                              data_root,
                                              osp.join(work_dir, 'overhead'))
    with open(osp.join(work_dir, 'results.json'), 'w') as f:
        json.dump(result, f, indent=2)
    write_csv(records, osp.join(work_dir, 'records.csv'))
    plot(summary, teacher['top1'], osp.join(work_dir,
                                            'accuracy_vs_time.png'),
         f"Fashion-MNIST, ResNet-34 → ResNet-18, data-free, {budget_s:g} s "
         f"per run, seeds {list(seeds)}; {result['machine']['processor']}")
    section = markdown(result)
    with open(osp.join(work_dir, 'benchmark.md'), 'w') as f:
        f.write(section)
    if docs:
        png = osp.join(osp.dirname(docs) or '.', 'benchmarks_accuracy.png')
        shutil.copy(osp.join(work_dir, 'accuracy_vs_time.png'), png)
        update_docs(docs, section + f'\n![accuracy against time]'
                    f'({osp.basename(png)})\n')
    print('\n' + section)
    return result


from .overhead import measure_overhead  # noqa: E402
