# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Train with an OpenMMLab config (SSD-KD configs, and plain mmpretrain ones,
e.g. the Fashion-MNIST teacher)."""
import argparse
import os
import os.path as osp

import ssdkd_mm  # noqa: F401  (compatibility fixes + registration first)
from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from ssdkd_mm.engine.config import complete_config, is_ssdkd
from ssdkd_mm.engine.data_check import preflight
from ssdkd_mm.engine.resume import ResumeError, resolve_resume
from ssdkd_mm.experiments.methods import SWITCHABLE, apply_method
from ssdkd_mm.replay.memory import BufferMemoryError
from ssdkd_mm.utils import register_all_modules
from ssdkd_mm.utils.dist_env import setup_cpu_dist


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or from the latest one in '
        'the work dir when no path is given')
    parser.add_argument(
        '--amp', action='store_true', help='enable mixed precision training')
    parser.add_argument(
        '--method',
        choices=SWITCHABLE,
        default='ssdkd',
        help="an SSD-KD config as SSD-KD (default), or as Fast-DFKD's Fast-2/"
        '5/10, DeepInversion, CMI or DFQ as published, through the same '
        'code (ssdkd_mm/experiments/methods.py and recipes.py, docs/'
        'methods.md; applied before --cfg-options)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, key=value')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)
    try:
        cfg = Config.fromfile(args.config)
    except Exception as e:  # syntax errors, missing bases, bad pkg:: paths
        raise SystemExit(f'error: cannot read the config {args.config}: '
                         f'{type(e).__name__}: {" ".join(str(e).split())}')
    cfg.launcher = args.launcher
    setup_cpu_dist(cfg)  # torchrun without GPUs: gloo on the CPU
    try:
        apply_method(cfg, args.method, args.config)
    except ValueError as e:
        raise SystemExit(f'error: {e}')
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        name = osp.splitext(osp.basename(args.config))[0]
        if args.method != 'ssdkd':  # other methods do not share SSD-KD's dir
            name += f'_{args.method}'
        cfg.work_dir = osp.join('./work_dirs', name)
    if args.amp:
        optim = cfg.optim_wrapper
        # Only the student: the generator's meta-gradient is set by hand and
        # its BN-statistics loss wants fp32.
        target = optim.architecture if 'architecture' in optim else optim
        target.update(type='AmpOptimWrapper', loss_scale='dynamic')
    if args.resume is not None:
        # The newest intact checkpoint of this work dir (a damaged one is
        # skipped, a moved work dir resumes from its own files).
        ckpt_hook = (cfg.get('default_hooks') or {}).get('checkpoint') or {}
        try:
            ckpt = resolve_resume(
                cfg.work_dir, args.resume, out_dir=ckpt_hook.get('out_dir'),
                ssdkd=is_ssdkd(cfg))
        except ResumeError as e:
            raise SystemExit(f'error: {e}')
        cfg.resume, cfg.load_from = True, ckpt

    try:  # an SSD-KD config: what it leaves unset is derived (and logged)
        complete_config(cfg)
    except (ValueError, FileNotFoundError, KeyError) as e:
        raise SystemExit(f'error: {e}')
    try:  # missing or mismatched teacher checkpoint, missing dataset:
        preflight(cfg, teacher=True)  # say so before building anything
    except (FileNotFoundError, RuntimeError) as e:
        raise SystemExit(f'error: {e}')
    try:  # a replay buffer too large for its device: one line
        runner = (Runner.from_cfg(cfg)
                  if 'runner_type' not in cfg else RUNNERS.build(cfg))
        runner.train()
    except BufferMemoryError as e:
        raise SystemExit(f'error: {e}')


if __name__ == '__main__':
    main()
