# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""The README's main job: data-free SSD-KD of a real Fashion-MNIST teacher,
evaluated on the real held-out test split, next to its baselines.

Two tasks: ``'cls'`` (ResNet-34 → ResNet-18 classifiers, top-1) and ``'seg'``
(DeepLabV3 ResNetV1c-18/2 → MobileNetV2x0.5 on Fashion-MNIST-Seg, mIoU)."""
import json
import os
import os.path as osp
import platform
import shutil
import time
from typing import Dict, List, Optional

import torch
from mmengine.config import Config
from mmengine.hooks import Hook

from ..engine.config import load_config
from .common import SSDKD_CFG, config_path, fit_to_budget, set_data_root
from .methods import FAST_SWITCHES, NOISE_INPUT

TEACHER_CFG = 'fashion_mnist/resnet34_fmnist_teacher.py'
REAL_STUDENT_CFG = 'fashion_mnist/resnet18_fmnist_student_real.py'

#: What differs between the demo's tasks: configs, metric, data.
TASKS = {
    'cls': dict(
        teacher_cfg=TEACHER_CFG,
        real_student_cfg=REAL_STUDENT_CFG,
        ssdkd_cfg=SSDKD_CFG,
        metric='accuracy/top1',
        key='top1',
        data_root='data/fashion_mnist',
        work_dir='work_dirs/demo',
        title='Fashion-MNIST test split (10k real images)'),
    'seg': dict(
        teacher_cfg='fashion_mnist_seg/deeplabv3_r18_fmnist_seg_teacher.py',
        real_student_cfg='fashion_mnist_seg/'
        'deeplabv3_r18q_fmnist_seg_student_real.py',
        ssdkd_cfg='ssdkd/ssdkd_deeplabv3_r18_r18q_fmnist_seg.py',
        metric='mIoU',
        key='miou',
        data_root='data/fashion_mnist_seg',
        work_dir='work_dirs/demo_seg',
        title='Fashion-MNIST-Seg test split (2k real canvases)'),
}

# The same code path turned into the baselines (switches of the algorithm).
VARIANTS = {
    'ssdkd': {},
    'noise': dict(NOISE_INPUT),
    'fast2': dict(FAST_SWITCHES),
}


class _LastMetrics(Hook):
    """Keeps the metrics of the last validation."""

    priority = 'LOWEST'

    def __init__(self):
        self.metrics: Dict = {}

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.metrics = dict(metrics or {})


def _say(msg: str) -> None:
    print(f'\n[demo {time.strftime("%H:%M:%S")}] {msg}', flush=True)


def _run(cfg: Config, work_dir: str, name: str):
    from mmengine.runner import Runner
    cfg.work_dir = work_dir
    cfg.experiment_name = f'{name}_{time.strftime("%Y%m%d_%H%M%S")}'
    runner = Runner.from_cfg(cfg)
    recorder = _LastMetrics()
    runner.register_hook(recorder)
    t0 = time.perf_counter()
    runner.train()
    return runner, recorder.metrics, time.perf_counter() - t0


def _top1(metrics: Dict, task: str = 'cls') -> float:
    """The task's headline metric (top-1 or mIoU, in %)."""
    return float(metrics[TASKS[task]['metric']])


def train_teacher(work_dir: str, data_root: str, task: str = 'cls',
                  teacher_cfg: Optional[str] = None) -> Dict:
    """Train the teacher on the real train split, or reuse it.

    ``teacher_cfg`` (default: the task's) names the teacher's config; it is
    kept in ``teacher.json``, and a teacher of another config (a file
    without the name: the task's default) is refused rather than reused.
    """
    t = TASKS[task]
    teacher_cfg = teacher_cfg or t['teacher_cfg']
    ckpt = osp.join(work_dir, 'teacher.pth')
    info_file = osp.join(work_dir, 'teacher.json')
    if osp.isfile(ckpt) and osp.isfile(info_file):
        with open(info_file) as f:
            info = json.load(f)
        there = info.get('config', t['teacher_cfg'])
        if there != teacher_cfg:
            raise ValueError(f'{work_dir} holds a teacher of {there}, not '
                             f'of {teacher_cfg}; use another teacher dir')
        _say(f'Reusing the teacher in {ckpt} ({t["key"]} '
             f'{info[t["key"]]:.2f} %)')
        return info
    _say(f'Training the teacher ({teacher_cfg}, real train split)')
    cfg = Config.fromfile(config_path(teacher_cfg))
    set_data_root(cfg, data_root)
    runner, metrics, wall = _run(cfg, osp.join(work_dir, 'run'), 'teacher')
    tmp = ckpt + '.tmp'
    torch.save({'state_dict': runner.model.state_dict(),
                'meta': {'source': cfg.work_dir}}, tmp)
    os.replace(tmp, ckpt)  # complete or absent
    info = {t['key']: _top1(metrics, task), 'train_wall_s': wall,
            'checkpoint': ckpt, 'config': teacher_cfg}
    with open(info_file, 'w') as f:
        json.dump(info, f, indent=2)
    return info


def distill(variant: str, teacher_ckpt: str, work_dir: str, data_root: str,
            minutes: float, seed: int,
            cfg_options: Optional[Dict] = None, task: str = 'cls') -> Dict:
    """Data-free distillation of the teacher with one variant of the
    algorithm, for ``minutes`` of training-loop time (``None``/0: the
    config's ``max_iters``)."""
    from ssdkd_mm.apis.extract import extract_student
    cfg = load_config(config_path(TASKS[task]['ssdkd_cfg']), log=False)
    cfg.merge_from_dict(VARIANTS[variant])
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    set_data_root(cfg, data_root)
    cfg.model.teacher_ckpt = teacher_ckpt
    cfg.randomness = dict(seed=seed, diff_rank_seed=True)
    if minutes:
        fit_to_budget(cfg, minutes * 60, begin_iter=cfg.warmup_iters)
    max_iters = cfg.train_cfg.max_iters
    cfg.train_cfg.val_interval = max_iters
    cfg.default_hooks.checkpoint.update(interval=max_iters, save_best=None)
    out = osp.join(work_dir, variant)
    _say(f'Distilling data-free: {variant} for '
         + (f'{minutes:g} min' if minutes else f'{max_iters} iterations'))
    t0 = time.perf_counter()
    runner, metrics, _ = _run(cfg, out, variant)
    alg = runner.model
    budget_hooks = [h for h in runner.hooks
                    if type(h).__name__ == 'SSDKDTimeBudgetHook']
    wall = (budget_hooks[0].elapsed_s if budget_hooks else
            time.perf_counter() - t0)
    student = osp.join(work_dir, f'student_{variant}.pth')
    extract_student(osp.join(out, f'iter_{runner.iter}.pth'), student)
    grid = osp.join(out, 'buffer_vis', 'final.png')
    if osp.isfile(grid):
        shutil.copy(grid, osp.join(work_dir, f'buffer_{variant}.png'))
    key, metric = TASKS[task]['key'], TASKS[task]['metric']
    result = {
        key: _top1(metrics, task),
        f'teacher_{key}_check': (float(metrics[f'teacher.{metric}'])
                                 if f'teacher.{metric}' in metrics else None),
    }
    result.update(
        distill_wall_s=wall,
        synth_time_s=alg.synth_time,
        kd_time_s=alg.kd_time,
        iters=runner.iter,
        kd_steps=alg.kd_steps,
        kd_batch=cfg.model.kd.batch_size,
        synthesis_rounds=alg.rounds,
        unique_synthetic_images=alg.buffer.n_inserted_total,
        buffer_size=len(alg.buffer),
        student_checkpoint=student)
    return result


def train_real_student(work_dir: str, data_root: str,
                       task: str = 'cls') -> Dict:
    _say('Training the student on real data (upper bound)')
    cfg = Config.fromfile(config_path(TASKS[task]['real_student_cfg']))
    set_data_root(cfg, data_root)
    _, metrics, wall = _run(cfg, osp.join(work_dir, 'real_student'),
                            'real_student')
    return {TASKS[task]['key']: _top1(metrics, task), 'train_wall_s': wall}


def run_demo(work_dir: Optional[str] = None,
             data_root: Optional[str] = None,
             minutes: float = 10.0,
             baselines: Optional[List[str]] = ('noise', ),
             real_student: bool = False,
             seed: int = 0,
             cfg_options: Optional[Dict] = None,
             task: str = 'cls',
             fashion_mnist_root: str = 'data/fashion_mnist') -> Dict:
    """Prepare data, train (or reuse) the teacher, distill with SSD-KD and
    the requested baselines, evaluate on the real test split and write
    ``summary.json``.

    ``task='seg'`` composes Fashion-MNIST-Seg from the Fashion-MNIST files in
    ``fashion_mnist_root`` and reports mIoU (``teacher_miou``,
    ``student_miou``, ...) instead of top-1."""
    import ssdkd_mm  # noqa: F401  (compat + registration)
    from ssdkd_mm.datasets import (prepare_fashion_mnist,
                                   prepare_fashion_mnist_seg)
    from ssdkd_mm.utils import register_all_modules
    if task not in TASKS:
        raise ValueError(f'task must be one of {sorted(TASKS)}, got {task!r}')
    t = TASKS[task]
    work_dir = work_dir or t['work_dir']
    data_root = data_root or t['data_root']
    register_all_modules(init_default_scope=False)
    os.makedirs(work_dir, exist_ok=True)
    if task == 'seg':
        _say(f'Composing Fashion-MNIST-Seg in {data_root} (from '
             f'{fashion_mnist_root})')
        prepare_fashion_mnist_seg(data_root, fashion_mnist_root)
    else:
        _say(f'Preparing Fashion-MNIST in {data_root}')
        prepare_fashion_mnist(data_root)

    key = t['key']
    teacher = train_teacher(osp.join(work_dir, 'teacher'), data_root, task)
    runs = {}
    for variant in ['ssdkd'] + [b for b in (baselines or []) if b]:
        if variant not in VARIANTS:
            raise ValueError(f'unknown baseline {variant!r}; choose from '
                             f'{sorted(set(VARIANTS) - {"ssdkd"})}')
        runs[variant] = distill(variant, teacher['checkpoint'], work_dir,
                                data_root, minutes, seed, cfg_options, task)
    real = (train_real_student(work_dir, data_root, task)
            if real_student else None)

    s = runs['ssdkd']
    summary = {
        'task': task,
        f'teacher_{key}': teacher[key],
        f'student_{key}': s[key],
        'student_over_teacher': s[key] / teacher[key],
        f'noise_baseline_{key}': runs.get('noise', {}).get(key),
        f'fast2_{key}': runs.get('fast2', {}).get(key),
        f'real_data_student_{key}': real[key] if real else None,
    }
    summary.update(
        distill_wall_s=s['distill_wall_s'],
        synth_time_s=s['synth_time_s'],
        kd_time_s=s['kd_time_s'],
        unique_synthetic_images=s['unique_synthetic_images'],
        buffer_size=s['buffer_size'],
        kd_steps=s['kd_steps'],
        minutes=minutes,
        seed=seed,
        cfg_options=cfg_options,
        teacher_train_wall_s=teacher.get('train_wall_s'),
        runs=runs,
        real_student=real,
        machine=dict(
            cpu_count=os.cpu_count(),
            torch_threads=torch.get_num_threads(),
            platform=platform.platform(),
            torch=torch.__version__,
            cuda=torch.cuda.is_available()))
    with open(osp.join(work_dir, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    print_table(summary)
    return summary


def print_table(summary: Dict) -> None:
    t = TASKS[summary.get('task', 'cls')]
    key = t['key']
    rows = [('teacher (real data)', summary[f'teacher_{key}'], '')]
    for name, label in (('ssdkd', 'SSD-KD student (data-free)'),
                        ('fast2', 'Fast-2 switch (data-free)'),
                        ('noise', 'noise-input baseline')):
        run = summary['runs'].get(name)
        if run:
            rows.append((label, run[key],
                         f"{run['distill_wall_s']:.0f} s, "
                         f"{run['unique_synthetic_images']} images, "
                         f"{run['kd_steps']} steps"))
    if summary.get(f'real_data_student_{key}') is not None:
        rows.append(('student (real data)',
                     summary[f'real_data_student_{key}'], ''))
    print('\n' + '=' * 78)
    print(f'{t["title"]:46s}{"top-1" if key == "top1" else "mIoU":>8s}')
    for label, top1, note in rows:
        print(f'{label:46s}{top1:8.2f}  {note}')
    print(f'SSD-KD student / teacher: {summary["student_over_teacher"]:.2%}')
    print('=' * 78)
