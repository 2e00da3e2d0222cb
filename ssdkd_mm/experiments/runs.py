# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""One benchmark run: a method's config fitted to the wall-clock budget with
weight snapshots, trained through mmengine's Runner, and the snapshots
evaluated afterwards (evaluation is never on the clock)."""
import os.path as osp
import time
from typing import Dict, List, Optional, Sequence

from mmengine.config import Config

from ..engine.config import load_config

from .common import config_path, fit_to_budget, set_data_root
from .methods import METHODS, apply_options
from .testbeds import DEFAULT, method_config


def build_config(method: str, teacher_ckpt: str, data_root: str,
                 budget_s: float, points_s: Sequence[float], seed: int,
                 work_dir: str,
                 cfg_options: Optional[Dict] = None,
                 testbed: str = DEFAULT) -> Config:
    """The method's config on ``testbed`` (:mod:`.testbeds`), fitted to a
    wall-clock budget with snapshots at ``points_s``."""
    m = METHODS[method]
    path = config_path(method_config(method, testbed))
    if m['family'] == 'ssdkd':
        from ..engine.config import complete_config
        cfg = Config.fromfile(path)
        apply_options(cfg, method)
        complete_config(cfg, log=False)
        cfg.model.teacher_ckpt = teacher_ckpt
        warmup = cfg.warmup_iters
        # The teacher is evaluated once by the benchmark, not per run.
        for h in cfg.custom_hooks:
            if h['type'].endswith('SSDKDInversionHook'):
                h['eval_teacher'] = False
        calibrate = 50
    else:
        cfg = load_config(path, log=False)
        cfg.model.teachers.res34.ckpt_path = teacher_ckpt
        warmup = 0
        # ZSKT/DFAD iterations hold 5-10 student steps: calibrate sooner.
        calibrate = 5 if cfg.model.get('student_iter', 1) > 1 else 20
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    set_data_root(cfg, data_root)
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


def run_method(method: str, seed: int, teacher_ckpt: str, data_root: str,
               budget_s: float, points_s: Sequence[float], work_dir: str,
               metric: str = 'accuracy/top1',
               cfg_options: Optional[Dict] = None,
               testbed: str = DEFAULT) -> List[Dict]:
    """Distil with one method and seed on ``testbed``; one record per
    snapshot."""
    from mmengine.runner import Runner

    from ..engine.hooks import SSDKDSnapshotHook
    from ..engine.runner import evaluate_model
    from ..utils.modules import unwrap
    cfg = build_config(method, teacher_ckpt, data_root, budget_s, points_s,
                       seed, osp.join(work_dir, method, f'seed{seed}'),
                       cfg_options, testbed)
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
