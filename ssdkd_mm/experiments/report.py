# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""The benchmark's report: machine info, ``records.csv``, the accuracy
against time plot, the Markdown results section and its place in the
docs."""
import csv
import os
import os.path as osp
import platform
from typing import Dict, List, Optional

import torch

from .methods import METHODS


def machine_info() -> Dict:
    """Platform, CPU, threads, library versions and the GPU, if any."""
    import mmengine
    import mmrazor
    info = dict(
        platform=platform.platform(),
        processor=cpu_name(),
        cpu_count=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        torch=torch.__version__,
        mmengine=mmengine.__version__,
        mmrazor=mmrazor.__version__,
        cuda=torch.cuda.is_available())
    if torch.cuda.is_available():
        info['gpu'] = torch.cuda.get_device_name(0)
    return info


def cpu_name() -> str:
    """The CPU model name (``/proc/cpuinfo``), else the platform's."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def write_csv(records: List[Dict], path: str) -> None:
    """One row per snapshot record."""
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
    """Accuracy against training time: main methods and the ablation."""
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


def _fmt(mean: Optional[float], std: Optional[float] = None,
         digits: int = 2) -> str:
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
        tta = ' / '.join(_tta(t) for t in m['tta'].values())
        bounds = m.get('tta_ratio_bound_vs_' + ref, {})
        ratio = ' / '.join(
            _ratio(r, bounds.get(f))
            for f, r in m['tta_ratio_vs_' + ref].items())
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
        '("(k/n)": only k of n seeds did; "> B s": no run did within its '
        'B s of training); the speed-up is the reference\'s '
        'mean time over the method\'s when every seed of both '
        'reached the target, and a bound when one side never did: '
        '"≥ B / t" (the reference did not arrive in B s, the method did in '
        't) or "≤ t / B". Snapshots are coarse: a time to accuracy is a '
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


def _tta(t: Dict) -> str:
    if t['mean_s'] is not None:
        return _fmt(t['mean_s'], t['std_s'], 0) + (
            '' if t['all_reached'] else f" ({t['reached']}/{t['runs']})")
    if t.get('lower_bound_s') is not None:
        return f"> {t['lower_bound_s']:.0f}"
    return 'not reached'


def _ratio(exact: Optional[float], bound: Optional[Dict]) -> str:
    if exact is not None:
        return f'{exact:.2f}×'
    if bound:
        return f"{'≥' if bound['kind'] == '>=' else '≤'} {bound['value']:.2f}×"
    return '—'


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
