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

This module runs the whole benchmark (:func:`run_benchmark`) and is its
public entry point; the pieces live by job in :mod:`.methods` (the method
table), :mod:`.runs` (one run), :mod:`.stats` (aggregation) and
:mod:`.report` (outputs), and are re-exported here.
"""
import json
import os
import os.path as osp
import shutil
import time
from typing import Dict, List, Optional, Sequence

from .methods import GROUPS, METHODS, MMRAZOR_CFGS, resolve_methods
from .overhead import measure_overhead
from .report import (BEGIN, END, machine_info, markdown, plot, update_docs,
                     write_csv)
from .runs import build_config, run_method
from .stats import summarize, time_to_accuracy

__all__ = [
    'run_benchmark', 'METHODS', 'GROUPS', 'MMRAZOR_CFGS', 'resolve_methods',
    'build_config', 'run_method', 'time_to_accuracy', 'summarize',
    'machine_info', 'write_csv', 'plot', 'markdown', 'BEGIN', 'END',
    'update_docs'
]


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
    from ssdkd_mm.experiments.demo import train_teacher
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
