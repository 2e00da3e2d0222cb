import os
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import ssdkd_mm  # noqa: E402,F401  (compat fixes before mmrazor.models)

torch.set_num_threads(2)


def tiny_classifier(depth=18, base=4, norm='BN', num_classes=10):
    """A small mmpretrain classifier on 1×28×28 inputs."""
    return dict(
        _scope_='mmpretrain',
        type='ImageClassifier',
        backbone=dict(
            type='ResNet_CIFAR',
            depth=depth,
            in_channels=1,
            stem_channels=base,
            base_channels=base,
            norm_cfg=dict(type=norm, requires_grad=True)),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead', num_classes=num_classes,
            in_channels=base * 8))


def tiny_algorithm_cfg(**overrides):
    cfg = dict(
        # Explicit scope: a Runner test earlier in the session leaves the
        # default scope at 'mmpretrain'.
        _scope_='mmrazor',
        type='SSDKDDistillation',
        architecture=tiny_classifier(),
        teacher=tiny_classifier(),
        data_preprocessor=dict(
            _scope_='mmpretrain', type='ClsDataPreprocessor', mean=[72.94],
            std=[90.02], num_classes=10),
        generator=dict(type='SSDKDGenerator', nz=16, ngf=8, img_size=28,
                       nc=1),
        inversion=dict(synth_batch_size=8),
        replay_buffer=dict(capacity=16),
        kd=dict(batch_size=8))
    for k, v in overrides.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k] = {**cfg[k], **v}
        else:
            cfg[k] = v
    return cfg


def build_optim(alg, lr=0.1):
    from mmrazor.engine import SeparateOptimWrapperConstructor
    return SeparateOptimWrapperConstructor(
        dict(
            architecture=dict(optimizer=dict(type='SGD', lr=lr)),
            generator=dict(optimizer=dict(type='Adam', lr=1e-3))))(alg)


@pytest.fixture
def tiny_alg():
    from mmrazor.registry import MODELS
    torch.manual_seed(0)
    return MODELS.build(tiny_algorithm_cfg())
