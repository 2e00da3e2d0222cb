"""Every shipped config parses and builds (the CIFAR configs train a few
iterations in tests/test_paper_benchmark.py)."""
import glob
import os.path as osp

import pytest
from conftest import ROOT
from mmengine.config import Config
from mmrazor.registry import MODELS

from ssdkd_mm.engine.config import load_config

SSDKD_CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs/ssdkd/*.py')))


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
