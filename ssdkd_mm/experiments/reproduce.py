# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""The paper's CIFAR benchmark in one command (``tools/reproduce_paper.py``):
the chosen pairs × datasets × methods with the configs' own (the paper's)
schedule, each run in its own work dir, finished runs kept, interrupted ones
resumed, and one table of our numbers beside the published ones.

Inputs are checked before anything runs: CIFAR in mmpretrain's layout under
``data_root`` (``cifar10/cifar-10-batches-py``, ``cifar100/cifar-100-python``)
and the community teachers under ``teachers`` with their own file names
(``cifar10_resnet34.pth``, ``cifar100_wrn40_2.pth``, … as the CMI /
Fast-DFKD archive extracts to ``checkpoints/pretrained``), which are
converted once into the work dir (mmpretrain checkpoints of our configs
pass through)."""
import json
import os
import os.path as osp
import time
from typing import Dict, List, Optional, Sequence

from mmengine.config import Config
from mmengine.hooks import Hook

from ..utils.atomic_io import atomic_write
from .common import config_path
from .methods import METHODS, SWITCHABLE, apply_method
from .paper import (DATASETS, PAIRS, PUBLISHED_SOURCE, config_name,
                    published, teacher_converted, teacher_source)

#: methods the reproduction runs (SSD-KD and the Fast-k switches)
REPRO_METHODS = SWITCHABLE
#: what must exist under --data-root for each dataset (mmpretrain layout)
CIFAR_FILES = {'cifar10': 'cifar10/cifar-10-batches-py/test_batch',
               'cifar100': 'cifar100/cifar-100-python/test'}
RESULT = 'result.json'


class ReproduceError(ValueError):
    """Missing inputs or a bad selection, with the fix."""


def resolve_selection(pairs: Sequence[str], datasets: Sequence[str],
                      methods: Sequence[str]):
    pairs = list(PAIRS) if list(pairs) in ([], ['all']) else list(pairs)
    for name, chosen, allowed in (('--pairs', pairs, PAIRS),
                                  ('--datasets', datasets, DATASETS),
                                  ('--methods', methods, REPRO_METHODS)):
        bad = [c for c in chosen if c not in allowed]
        if bad:
            raise ReproduceError(f'{name} {" ".join(bad)}: choose from '
                                 f'{", ".join(allowed)}')
    return pairs, list(datasets), list(methods)


def check_inputs(data_root: str, teachers: str, pairs: Sequence[str],
                 datasets: Sequence[str]) -> None:
    """Raise :class:`ReproduceError` listing every missing CIFAR set and
    teacher file of the selection, and what to do."""
    problems = []
    for ds in datasets:
        path = osp.join(data_root, CIFAR_FILES[ds])
        if not osp.isfile(path):
            problems.append(
                f'{ds.upper()} is missing: no {path} (put the python '
                f'version of {ds.upper()} under {osp.join(data_root, ds)}, '
                "mmpretrain's layout)")
    for ds in datasets:
        for arch in sorted({PAIRS[p]['teacher'] for p in pairs}):
            path = osp.join(teachers, teacher_source(ds, arch))
            if not osp.isfile(path):
                problems.append(
                    f'teacher {path} is missing (the CMI / Fast-DFKD '
                    'teacher archive, extracted: its checkpoints/pretrained '
                    'folder is --teachers)')
    if problems:
        raise ReproduceError('cannot reproduce the paper here:\n  ' +
                             '\n  '.join(problems))


def prepare_teacher(teachers: str, dataset: str, arch: str,
                    work_dir: str) -> str:
    """The converted teacher of ``arch`` (converted on first use)."""
    from ..models.convert import convert_checkpoint
    dst = osp.join(work_dir, 'teachers',
                   osp.basename(teacher_converted(dataset, arch)))
    if not osp.isfile(dst):
        os.makedirs(osp.dirname(dst), exist_ok=True)
        convert_checkpoint(osp.join(teachers, teacher_source(dataset, arch)),
                           dst, arch)
    return dst


def build_run_config(pair: str, dataset: str, method: str, data_root: str,
                     teacher_ckpt: str, work_dir: str,
                     cfg_options: Optional[Dict] = None) -> Config:
    """The shipped config of ``pair`` on ``dataset`` as ``method``, reading
    CIFAR from ``data_root``."""
    cfg = Config.fromfile(config_path(config_name(pair, dataset)))
    apply_method(cfg, method)
    cfg.model.teacher_ckpt = teacher_ckpt
    for loader in ('val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = osp.join(data_root, dataset)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.work_dir = work_dir
    cfg.experiment_name = f'{pair}_{dataset}_{method}'
    return cfg


def _device_name() -> str:
    import torch

    from .report import cpu_name
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f'CPU ({cpu_name()})'


class _TrainClockHook(Hook):
    """Seconds of training of a run, kept across resumes in
    ``train_seconds.json`` (written every ``interval`` iterations, so a
    crash loses at most that much of the count)."""
    priority = 'VERY_LOW'

    def __init__(self, work_dir: str, resumed: bool, interval: int = 100):
        self.path = osp.join(work_dir, 'train_seconds.json')
        self.previous = 0.0
        if resumed and osp.isfile(self.path):
            with open(self.path) as f:
                self.previous = float(json.load(f)['train_s'])
        self.interval = interval
        self.t0 = None

    def before_train(self, runner) -> None:
        self.t0 = time.perf_counter()

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if (runner.iter + 1) % self.interval == 0:
            self.save()

    def after_train(self, runner) -> None:
        self.save()

    def seconds(self) -> float:
        return self.previous + (
            0.0 if self.t0 is None else time.perf_counter() - self.t0)

    def save(self) -> None:
        atomic_write(json.dumps(dict(train_s=self.seconds())), self.path)


def run_one(pair: str, dataset: str, method: str, data_root: str,
            teacher_ckpt: str, work_dir: str,
            cfg_options: Optional[Dict] = None) -> Dict:
    """Train one run (resuming its newest intact checkpoint), evaluate the
    final student, and write ``result.json`` in its work dir."""
    from mmengine.registry import RUNNERS

    from ..engine.config import complete_config
    from ..engine.resume import resolve_resume
    from ..engine.data_check import preflight
    cfg = build_run_config(pair, dataset, method, data_root, teacher_ckpt,
                           work_dir, cfg_options)
    resumed = resolve_resume(work_dir, 'auto')
    if resumed:
        cfg.resume, cfg.load_from = True, resumed
    complete_config(cfg, log=False)
    preflight(cfg, teacher=True)
    clock = _TrainClockHook(work_dir, bool(resumed))
    runner = RUNNERS.build(cfg)
    runner.register_hook(clock)
    runner.train()
    train_s = clock.seconds()
    metrics = runner.val_loop.run()
    result = dict(
        pair=pair, dataset=dataset, method=method,
        label=METHODS[method]['label'],
        top1=float(metrics['accuracy/top1']),
        teacher_top1=(float(metrics['teacher.accuracy/top1'])
                      if 'teacher.accuracy/top1' in metrics else None),
        student_steps=int(runner.iter),
        hours=train_s / 3600.0,
        resumed_from=resumed,
        device=_device_name(),
        config=config_name(pair, dataset))
    atomic_write(json.dumps(result, indent=1), osp.join(work_dir, RESULT))
    return result


def run_dir(work_dir: str, pair: str, dataset: str, method: str) -> str:
    return osp.join(work_dir, dataset, pair, method)


def reproduce(data_root: str, teachers: str,
              pairs: Sequence[str] = ('all', ),
              datasets: Sequence[str] = DATASETS,
              methods: Sequence[str] = ('ssdkd', 'fast2'),
              work_dir: str = 'work_dirs/reproduce_paper',
              cfg_options: Optional[Dict] = None,
              dry_run: bool = False) -> Dict:
    """Run the selection (finished runs are read back, not rerun) and write
    ``paper_results.json`` and ``paper_table.md`` in ``work_dir``."""
    pairs, datasets, methods = resolve_selection(pairs, datasets, methods)
    check_inputs(data_root, teachers, pairs, datasets)
    results: List[Dict] = []
    planned = []
    for ds in datasets:
        for pair in pairs:
            for method in methods:
                d = run_dir(work_dir, pair, ds, method)
                done = osp.isfile(osp.join(d, RESULT))
                planned.append(dict(pair=pair, dataset=ds, method=method,
                                    work_dir=d, done=done))
    if dry_run:
        return dict(planned=planned)
    for job in planned:
        path = osp.join(job['work_dir'], RESULT)
        if job['done']:
            with open(path) as f:
                results.append(json.load(f))
            continue
        teacher = prepare_teacher(teachers, job['dataset'],
                                  PAIRS[job['pair']]['teacher'], work_dir)
        results.append(
            run_one(job['pair'], job['dataset'], job['method'], data_root,
                    teacher, job['work_dir'], cfg_options))
        _write_outputs(results, work_dir)  # a table after every run
    return _write_outputs(results, work_dir)


def _write_outputs(results: List[Dict], work_dir: str) -> Dict:
    summary = dict(results=results, published_source=PUBLISHED_SOURCE)
    os.makedirs(work_dir, exist_ok=True)
    atomic_write(json.dumps(summary, indent=1),
                 osp.join(work_dir, 'paper_results.json'))
    atomic_write(markdown(results), osp.join(work_dir, 'paper_table.md'))
    return summary


def markdown(results: List[Dict]) -> str:
    """One row per (dataset, pair, method): ours beside the published
    teacher, real-data student and Fast-k of that pair."""
    lines = [
        '| dataset | pair | method | top-1 (ours) | overall hours | device '
        '| published: teacher | same method | Fast-2 | Fast-10 | real-data '
        'student |', '|' + '---|' * 11
    ]
    for r in results:
        pub = published(r['dataset'], r['pair'])
        same = pub.get(r['method'])
        lines.append(
            f"| {r['dataset']} | {PAIRS[r['pair']]['label']} | "
            f"{r['label']} | {r['top1']:.2f} | {r['hours']:.2f} | "
            f"{r['device']} | {pub['teacher']:.2f} | "
            f"{'—' if same is None else f'{same:.2f}'} | "
            f"{pub['fast2']:.2f} | {pub['fast10']:.2f} | "
            f"{pub['student_real']:.2f} |")
    lines += [
        '',
        f'Published: {PUBLISHED_SOURCE}. Fast-DFKD\'s own hours are '
        'synthesis only; ours are the whole training run (synthesis, '
        'student steps and its periodic validation). SSD-KD has no '
        'published per-pair row to compare against ("same method" —).',
        ''
    ]
    return '\n'.join(lines)


__all__ = ['REPRO_METHODS', 'ReproduceError', 'check_inputs', 'markdown',
           'reproduce', 'run_one']
