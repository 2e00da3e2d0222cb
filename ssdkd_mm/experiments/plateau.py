# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""The plateau protocol: how much sooner does SSD-KD reach the accuracy the
reference (Fast-2) reaches at its plateau?

* the reference runs for a budget T, and for 2T to show that T is a plateau
  (mean accuracy at 2T within ``plateau_tol`` points of T's);
* the method runs for each budget f·T (default f = 1/4, 1/2, 1), every run
  with its own schedule fitted to its budget (not a snapshot of a longer
  run);
* every run is repeated for each seed (paired: same seed, same teacher);
* headline: the time at which the method's mean accuracy, interpolated
  linearly between its budgets, reaches the reference's mean at T, as a
  ratio of T; the same per seed against that seed's reference run.

Each run's final student is evaluated on the real test split (evaluation is
never on the clock). Finished runs are kept in ``records.jsonl`` and reused.
"""
import json
import os
import os.path as osp
import time
from typing import Dict, List, Optional, Sequence

from .report import machine_info
from .runs import run_method
from .stats import mean_std


def time_to_reach(budgets: Sequence[float], top1: Sequence[float],
                  target: float) -> Optional[float]:
    """Seconds at which the curve (budget, top-1), linear between budgets,
    first reaches ``target``; the first budget if it already does; None if
    it never does."""
    pts = sorted(zip(budgets, top1))
    if not pts:
        return None
    if pts[0][1] >= target:
        return float(pts[0][0])
    for (b0, a0), (b1, a1) in zip(pts, pts[1:]):
        if a1 >= target:
            return float(b0 + (target - a0) / (a1 - a0) * (b1 - b0))
    return None


def summarize_plateau(records: List[Dict], budget_s: float,
                      seeds: Sequence[int], method: str = 'ssdkd',
                      reference: str = 'fast2',
                      plateau_tol: float = 0.5) -> Dict:
    """The protocol's summary from the final record of each run."""

    def runs(name, budget):
        return {r['seed']: r for r in records
                if r['method'] == name and r['seed'] in seeds
                and abs(r['budget_s'] - budget) < 1e-6}

    ref_t = runs(reference, budget_s)
    ref_mean, ref_std = mean_std(r['top1'] for r in ref_t.values())
    ref_2t = runs(reference, 2 * budget_s)
    ref2_mean, ref2_std = mean_std(r['top1'] for r in ref_2t.values())
    budgets = sorted({r['budget_s'] for r in records if r['method'] == method
                      and r['seed'] in seeds})
    per_budget = [runs(method, b) for b in budgets]
    means, stds = zip(*[mean_std(r['top1'] for r in rs.values())
                        for rs in per_budget]) if budgets else ((), ())
    t_ref = None if ref_mean is None else time_to_reach(
        budgets, means, ref_mean)
    paired = []
    for seed in seeds:
        if seed in ref_t and all(seed in rs for rs in per_budget):
            t = time_to_reach(budgets, [rs[seed]['top1'] for rs in per_budget],
                              ref_t[seed]['top1'])
            paired.append(None if t is None else t / budget_s)
    reached = [p for p in paired if p is not None]
    ratio_mean, ratio_std = mean_std(reached)

    def curve(name):
        return sorted((r['budget_s'], r['kd_steps'], r['top1'], r['seed'])
                      for r in records if r['method'] == name
                      and r['seed'] in seeds)

    return dict(
        protocol='plateau',
        seeds=list(seeds),
        reference=dict(
            method=reference, budget_s=budget_s, top1_mean=ref_mean,
            top1_std=ref_std, top1_2x_mean=ref2_mean, top1_2x_std=ref2_std,
            plateau=(None if ref2_mean is None or ref_mean is None else
                     abs(ref2_mean - ref_mean) <= plateau_tol),
            plateau_tol=plateau_tol),
        ssdkd=dict(
            method=method, budgets_s=budgets, top1_mean=list(means),
            top1_std=list(stds),
            kd_steps_mean=[mean_std(r['kd_steps'] for r in rs.values())[0]
                           for rs in per_budget]),
        time_to_reference_s=t_ref,
        ratio=None if t_ref is None else t_ref / budget_s,
        paired_ratio=dict(mean=ratio_mean, std=ratio_std,
                          reached=len(reached), of=len(paired)),
        at_t_delta=(None if not budgets or budgets[-1] != budget_s
                    or ref_mean is None else means[-1] - ref_mean),
        # (budget, student steps, top-1, seed) per run: equal-time and
        # equal-step curves
        curves={reference: curve(reference), method: curve(method)})


def run_plateau(budget_s: float,
                seeds: Sequence[int] = (0, 1, 2),
                fractions: Sequence[float] = (0.25, 0.5, 1.0),
                method: str = 'ssdkd',
                reference: str = 'fast2',
                check_plateau: bool = True,
                work_dir: str = 'work_dirs/plateau',
                data_root: str = 'data/fashion_mnist',
                teacher_dir: str = 'work_dirs/demo/teacher',
                out: Optional[str] = 'docs/results/plateau.json',
                command: str = '',
                resume: bool = True,
                prepare_data: bool = True,
                cfg_options: Optional[Dict[str, Dict]] = None,
                label: Optional[str] = None) -> Dict:
    """Run the protocol (see the module docstring) and write its summary
    to ``work_dir/<label>_plateau.json`` and ``out``. ``cfg_options`` maps
    a method name to config overrides of its runs; ``label`` names the
    method's runs (default: ``method``), so that variants of one method
    share the reference's runs in one ``work_dir``."""
    label = label or method
    import ssdkd_mm  # noqa: F401  (compat + registration)
    from ssdkd_mm.experiments.demo import train_teacher
    from ssdkd_mm.datasets import prepare_fashion_mnist
    from ssdkd_mm.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    if budget_s <= 0 or any(not 0 < f <= 1 for f in fractions):
        raise ValueError('the budget must be > 0 s and the fractions in '
                         '(0, 1]')
    os.makedirs(work_dir, exist_ok=True)
    if prepare_data:
        prepare_fashion_mnist(data_root)
    teacher = train_teacher(teacher_dir, data_root, 'cls')
    plan = [(reference, budget_s)]
    if check_plateau:
        plan.append((reference, 2 * budget_s))
    plan += [(label, f * budget_s) for f in sorted(fractions)]
    rec_file = osp.join(work_dir, 'records.jsonl')
    records: List[Dict] = []
    if resume and osp.isfile(rec_file):
        with open(rec_file) as f:
            records = [json.loads(line) for line in f if line.strip()]
    done = {(r['method'], r['seed'], round(r['budget_s'], 6))
            for r in records}
    for seed in seeds:
        for name, budget in plan:
            if (name, seed, round(budget, 6)) in done:
                continue
            print(f'\n[plateau {time.strftime("%H:%M:%S")}] {name}, seed '
                  f'{seed}, {budget:g} s', flush=True)
            base = method if name == label else name
            recs = run_method(
                base, seed, teacher['checkpoint'], data_root, budget, [],
                osp.join(work_dir, name, f'{budget:g}s'),
                cfg_options=(cfg_options or {}).get(base))
            rec = dict(recs[-1], method=name)  # the run's final student
            with open(rec_file, 'a') as f:
                f.write(json.dumps(rec) + '\n')
            records.append(rec)
    summary = summarize_plateau(records, budget_s, seeds, label, reference)
    summary.update(
        machine=machine_info()['processor'], machine_info=machine_info(),
        teacher_top1=teacher['top1'], command=command,
        options={k: v for k, v in (cfg_options or {}).items()})
    for path in filter(None, (osp.join(work_dir, f'{label}_plateau.json'),
                              out)):
        os.makedirs(osp.dirname(path) or '.', exist_ok=True)
        with open(path, 'w') as f:
            json.dump(summary, f, indent=2)
    print(markdown(summary))
    return summary


def markdown(s: Dict) -> str:
    """The summary as a short Markdown table."""

    def fmt(m, sd=None):
        if m is None:
            return 'n/a'
        return f'{m:.2f}' if sd is None else f'{m:.2f} ± {sd:.2f}'

    ref = s['reference']
    lines = [
        f"Plateau protocol, seeds {s['seeds']}: {ref['method']} at "
        f"T = {ref['budget_s']:g} s: {fmt(ref['top1_mean'], ref['top1_std'])}"
        f" (2T: {fmt(ref['top1_2x_mean'], ref['top1_2x_std'])}, plateau: "
        f"{ref['plateau']})", '',
        f"| {s['ssdkd']['method']} budget (s) | top-1 (%) | student steps |",
        '|---|---|---|']
    for b, m, sd, k in zip(s['ssdkd']['budgets_s'], s['ssdkd']['top1_mean'],
                           s['ssdkd']['top1_std'],
                           s['ssdkd']['kd_steps_mean']):
        lines.append(f'| {b:g} | {fmt(m, sd)} | {fmt(k)} |')
    t = s['time_to_reference_s']
    lines += ['', f"time to the reference's accuracy at T: "
              f"{'not reached' if t is None else f'{t:.0f} s'}"
              f" (ratio {fmt(s['ratio'])}; paired per seed "
              f"{fmt(s['paired_ratio']['mean'], s['paired_ratio']['std'])}, "
              f"reached in {s['paired_ratio']['reached']} of "
              f"{s['paired_ratio']['of']})"]
    return '\n'.join(lines)
