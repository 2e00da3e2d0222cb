# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""The race's outputs: ``race.json``, the Markdown table ``race.md`` and the
accuracy-against-time plot ``race_accuracy.png``, in the work dir and
beside ``--results-json``."""
import json
import os
import os.path as osp
import shutil
from typing import Dict, List, Optional

from .stats import mean_std

FILES = ('race.json', 'race.md', 'race_accuracy.png')


def fmt_time(entry) -> str:
    """A time to X: ``123 ± 4``, ``> 600`` (no run arrived) or
    ``≥ 450 (2/3)`` (a lower bound on the mean, 2 of 3 runs arrived)."""
    if entry is None:
        return '—'
    if isinstance(entry, dict):
        if entry.get('reached', 0) == 0:
            return f"> {entry['lower_bound']:.0f}"
        return (f"≥ {entry['lower_bound']:.0f} "
                f"({entry['reached']}/{entry['of']})")
    return f'{entry[0]:.0f} ± {entry[1]:.0f}'


def fmt_ratio(r) -> str:
    """A ratio: ``0.45×``, ``≥ 0.45×``, ``≤ 0.45×``, ``0.40–0.50×``."""
    if r is None:
        return 'unknown (neither arrived)'
    if not isinstance(r, dict):
        return f'{r:.2f}×'
    lo, hi = r.get('lower_bound'), r.get('upper_bound')
    if lo is not None and hi is not None:
        return f'{lo:.2f}–{hi:.2f}×'
    return f'≥ {lo:.2f}×' if lo is not None else f'≤ {hi:.2f}×'


def _spread(p: Optional[Dict]) -> str:
    if p and p.get('mean_std'):
        m, s = p['mean_std']
        return f'paired per seed {m:.2f} ± {s:.2f}'
    if p and p.get('per_seed'):
        return 'per seed ' + ', '.join(
            f'{k}: {fmt_ratio(v)}' for k, v in p['per_seed'].items())
    return 'no common seed'


def markdown(res: Dict) -> str:
    """The race's table, its ratios and the schedule statement."""
    keys = list(res['targets'])
    teacher = res['teacher_top1']
    lines = [
        f"Race on {res['machine']} (torch CPU capability "
        f"{res['cpu_capability']}); testbed {res['testbed']}"
        + (f" ({res['testbed_pair']})" if res.get('testbed_pair') else '')
        + f"; teacher "
        f"top-1 {teacher:.2f} %; {res['budget_s']:g} s of training-loop "
        f"time per run, students evaluated every "
        f"{res['grid_s'][0] if res['grid_s'] else res['budget_s']:g} s and "
        f"at the end on the real test split (not on the clock); seeds "
        f"{res['seeds']} (one seed: {', '.join(res['one_seed']) or 'none'}). "
        f"Command: `{res.get('command', '')}`.", '',
        '| method | seeds | time to ' + ' / '.join(f'{k} %' for k in keys)
        + ' of teacher (s) | top-1 at the end (%) | of teacher '
        '| student steps | synthetic images |',
        '|---|---|---|---|---|---|---|']
    for m in res['methods']:
        name = m['name'] + (' (default)' if m['name'] == res['default']
                            else '')
        top1, sd = m['final_top1']
        lines.append(
            f"| {name} | {len(m['seeds'])} | "
            + ' / '.join(fmt_time(m['time_to_s'][k]) for k in keys)
            + f" | {top1:.2f} ± {sd:.2f} | {top1 / teacher:.1%} | "
            f"{m['student_steps']} | {m['synthetic_images']} |")
    lines += ['', 'Time to X: training seconds of the first snapshot at or '
              'above X % of the teacher, mean ± std over seeds; "> t": no '
              'run arrived within its t s; "≥ t (k/n)": k of n runs '
              'arrived, the mean counts the others at their end time, a '
              'lower bound.', '']
    for k in keys:
        r = res['ratios'].get(k)
        if not r:
            continue
        parts = []
        for group, what in (('peers', 'the fastest published peer'),
                            ('ablation', 'its fastest ablation cell')):
            g = r[group]
            if not g['fastest']:
                continue
            by = '' if g['fastest_exact'] else ', fastest by lower bound'
            parts.append(f"against {what} ({g['fastest']}{by}) "
                         f"{fmt_ratio(g['ratio_vs_fastest'])}")
        each = r['ablation']['each']
        if each:
            parts.append('each cell: ' + '; '.join(
                f"{n} {fmt_ratio(c['ratio'])} ({_spread(c['paired'])})"
                for n, c in each.items()))
        lines.append(f"**{k} %**, {res['default']}'s time: "
                     + '; '.join(parts) + '.')
    lines += ['', 'Ratios are the default\'s mean time over the other\'s; '
              'when a side did not arrive they are bounds ("≥" / "≤").', '',
              f"Learning-rate schedule: {res['schedule']}"]
    return '\n'.join(lines) + '\n'


def _mean_curve(curves: Dict[str, List]) -> List[List[float]]:
    """Mean (time, top-1, std) by snapshot index over the seeds."""
    runs = list(curves.values())
    n = min(len(c) for c in runs)
    out = []
    for i in range(n):
        t = mean_std(c[i][0] for c in runs)[0]
        a, s = mean_std(c[i][1] for c in runs)
        out.append([t, a, s])
    return out


def plot(res: Dict, path: str) -> None:
    """Accuracy against training time, mean ± std over seeds, with the
    90 / 95 / 98 % targets: the peers, and the ablation cells."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from .methods import GROUPS
    abl = set(GROUPS['race-ablation'])
    top = res['teacher_top1']
    floor = 0.5 * top  # the race is about the top; far-behind runs say so
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
    panels = (('the default and the published peers',
               lambda n: n not in abl),
              ('the default and its ablation cells',
               lambda n: n in abl or n == res['default']))
    for ax, (title, keep) in zip(axes, panels):
        for m in res['methods']:
            if not keep(m['name']):
                continue
            c = _mean_curve(m['curves'])
            below = ', below the plot' if max(p[1] for p in c) < floor else ''
            ax.errorbar([p[0] for p in c], [p[1] for p in c],
                        yerr=[p[2] or 0.0 for p in c], capsize=2,
                        marker='.',
                        label=f"{m['name']} (n={len(m['seeds'])}{below})",
                        linewidth=2.4 if m['name'] == res['default'] else 1.1)
        for k, target in res['targets'].items():
            ax.axhline(target, color='k', linestyle=':', linewidth=0.8)
            ax.text(0.01, target, f'{k} % of teacher', fontsize=7,
                    va='bottom', transform=ax.get_yaxis_transform())
        ax.set_xlabel('training wall time (s): synthesis + student steps')
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc='lower right')
    axes[0].set_ylim(floor, top + 2)
    axes[0].set_ylabel('top-1 on the real test split (%), mean ± std')
    fig.suptitle(f"race ({res['testbed']} testbed): {res['machine']} "
                 f"({res['cpu_capability']}), "
                 f"{res['budget_s']:g} s per run, teacher {top:.2f} %",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(res: Dict, work_dir: str,
                  results_json: Optional[str] = None) -> None:
    """``race.json`` / ``race.md`` / ``race_accuracy.png`` in ``work_dir``;
    with ``results_json``, the JSON there and the table and plot beside
    it (``race.md``, ``race_accuracy.png``)."""
    os.makedirs(work_dir, exist_ok=True)
    paths = [osp.join(work_dir, f) for f in FILES]
    with open(paths[0], 'w') as f:
        json.dump(res, f, indent=2)
    text = markdown(res)
    with open(paths[1], 'w') as f:
        f.write(text + '\n![accuracy against time](race_accuracy.png)\n')
    plot(res, paths[2])
    print('\n' + text, flush=True)
    if results_json:
        out_dir = osp.dirname(results_json) or '.'
        os.makedirs(out_dir, exist_ok=True)
        targets = [results_json] + [osp.join(out_dir, f) for f in FILES[1:]]
        for src, dst in zip(paths, targets):
            if osp.abspath(src) != osp.abspath(dst):
                shutil.copy(src, dst)
