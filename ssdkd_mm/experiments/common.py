# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Config helpers shared by the demo, the benchmark and the timings: where a
shipped config lives, where its data lives and how long it trains."""
import os.path as osp

from mmengine.config import Config

#: SSD-KD on Fashion-MNIST (ResNet-34 → ResNet-18), the demo's and the
#: benchmark's config.
SSDKD_CFG = 'ssdkd/ssdkd_resnet34_resnet18_fmnist.py'


def config_path(rel: str) -> str:
    """A shipped config, from the installed package (mim) or the checkout."""
    pkg = osp.dirname(osp.dirname(osp.abspath(__file__)))
    for root in (osp.join(pkg, '.mim', 'configs'),
                 osp.join(osp.dirname(pkg), 'configs')):
        if osp.isfile(osp.join(root, rel)):
            return osp.join(root, rel)
    raise FileNotFoundError(f'config {rel} not found under the installed '
                            'package or the source checkout')


def set_data_root(cfg: Config, data_root: str) -> None:
    """Point every dataloader of ``cfg`` that has a ``data_root`` at
    ``data_root``."""
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if loader and 'data_root' in loader.get('dataset', {}):
            loader.dataset.data_root = data_root


def fit_to_budget(cfg: Config, budget_s: float, begin_iter: int = 0,
                  calibrate_iters: int = 50) -> None:
    """Make ``cfg`` train for ``budget_s`` seconds of loop time: plenty of
    iterations, every scheduler ending at them (cosine ``T_max`` from its
    ``begin``), and :class:`SSDKDTimeBudgetHook`, which sets the real end
    and stretches those schedulers to it."""
    max_iters = begin_iter + 10**6
    cfg.train_cfg.max_iters = max_iters
    for key in ('architecture', 'generator'):
        for sched in cfg.param_scheduler[key]:
            sched.update(end=max_iters)
            if 'T_max' in sched:
                sched['T_max'] = max_iters - sched.get('begin', 0)
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
        dict(type='mmrazor.SSDKDTimeBudgetHook', budget_s=budget_s,
             begin_iter=begin_iter, calibrate_iters=calibrate_iters)
    ]
