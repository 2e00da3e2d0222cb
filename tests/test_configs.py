"""Every shipped config parses and builds; the CIFAR configs run a few
SSD-KD iterations through the Runner on generated CIFAR-format val data."""
import glob
import os
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from conftest import ROOT
from mmengine.config import Config
from mmengine.runner import Runner
from mmrazor.registry import MODELS

from ssdkd_mm.engine.config import load_config

SSDKD_CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs/ssdkd/*.py')))


def _write_cifar(root, name, n=12, seed=0):
    """mmpretrain's pickled CIFAR layout with random images."""
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8)
    if name == 'cifar10':
        folder = osp.join(root, 'cifar-10-batches-py')
        files = [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']
        label_key, meta = 'labels', ('batches.meta', 'label_names', 10)
    else:
        folder = osp.join(root, 'cifar-100-python')
        files = ['train', 'test']
        label_key, meta = 'fine_labels', ('meta', 'fine_label_names', 100)
    os.makedirs(folder, exist_ok=True)
    for f in files:
        with open(osp.join(folder, f), 'wb') as fh:
            pickle.dump({'data': data, label_key: list(range(n))}, fh)
    with open(osp.join(folder, meta[0]), 'wb') as fh:
        pickle.dump({meta[1]: [f'c{i}' for i in range(meta[2])]}, fh)
    return root


@pytest.mark.parametrize('path', SSDKD_CONFIGS, ids=osp.basename)
def test_ssdkd_configs_parse_and_build(path):
    cfg = load_config(path, log=False)
    assert cfg.model.type == 'SSDKDDistillation'
    assert cfg.runner_type == 'mmrazor.SSDKDRunner'  # the data-free bases
    # data-free: the training loader holds no dataset of real images
    assert cfg.train_dataloader.dataset.type == 'mmrazor.SSDKDPlaceholderDataset'
    assert len(cfg.model.data_preprocessor.mean) == cfg.model.generator.nc
    cfg.model.teacher_ckpt = None
    alg = MODELS.build(cfg.model)
    assert alg.generator.img_shape[0] == alg._img_mean.numel()


def test_fashion_mnist_val_set_is_the_test_split(tmp_path):
    """Regression: mmpretrain's FashionMNIST loads the *train* files unless
    test_mode=True, whatever `split` says."""
    from _fmnist_fake import write_idx_set
    from mmpretrain.registry import DATASETS
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/ssdkd/ssdkd_resnet34_resnet18_fmnist.py'))
    ds_cfg = cfg.val_dataloader.dataset
    ds_cfg.data_root = write_idx_set(str(tmp_path), n_train=30, n_test=20)
    ds_cfg._scope_ = 'mmpretrain'  # a seg test may leave the scope at mmseg
    assert len(DATASETS.build(ds_cfg)) == 20


@pytest.mark.e2e
@pytest.mark.parametrize('name', ['cifar10', 'cifar100'])
def test_cifar_config_runs_a_few_iterations(tmp_path, monkeypatch, name):
    from mmpretrain.datasets import CIFAR10
    # Generated files cannot match the real archives' md5 sums.
    monkeypatch.setattr(CIFAR10, '_check_integrity', lambda self: True)
    cfg = load_config(
        osp.join(ROOT, f'configs/ssdkd/ssdkd_resnet34_resnet18_{name}.py'),
        log=False)
    cfg.model.teacher_ckpt = None  # random teacher weights
    cfg.model.inversion.synth_batch_size = 8
    cfg.model.kd.batch_size = 4
    cfg.model.replay_buffer.capacity = 16
    for loader in ('val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = _write_cifar(str(tmp_path), name)
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
    cfg.train_cfg.update(max_iters=3, val_interval=3)
    cfg.param_scheduler.architecture[0].update(begin=1, end=3, T_max=2)
    cfg.param_scheduler.generator[0].update(end=3)
    cfg.custom_hooks[0].update(warmup_iters=1, synth_interval=1)
    cfg.custom_hooks[2].update(begin_iter=1)
    cfg.default_hooks.checkpoint.update(interval=3, save_best=None)
    cfg.work_dir = str(tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.model.kd_steps == 2 and len(runner.model.buffer) == 16
    metrics = runner.val_loop.run()
    assert 'accuracy/top1' in metrics and 'teacher.accuracy/top1' in metrics
    assert runner.model.num_classes == (10 if name == 'cifar10' else 100)
