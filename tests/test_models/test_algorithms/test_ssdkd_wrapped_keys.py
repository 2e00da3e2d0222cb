"""Checkpoints of a multi-GPU run (student and generator each wrapped by
MMSeparateDistributedDataParallel) load with mmengine's loader."""
import torch
import torch.nn as nn
from conftest import tiny_algorithm_cfg
from mmengine.registry import MODEL_WRAPPERS
from mmengine.runner.checkpoint import _load_checkpoint_to_model
from mmrazor.registry import MODELS


@MODEL_WRAPPERS.register_module(force=True)
class _FakeDDP(nn.Module):
    """Stands in for MMDistributedDataParallel (no process group)."""

    def __init__(self, module):
        super().__init__()
        self.module = module


def wrapped_alg(seed):
    torch.manual_seed(seed)
    alg = MODELS.build(tiny_algorithm_cfg())
    alg.architecture = _FakeDDP(alg.architecture)
    alg.generator = _FakeDDP(alg.generator)
    return alg


def test_wrapped_children_save_plain_keys_that_mmengine_loads():
    src, dst = wrapped_alg(0), wrapped_alg(1)
    state = src.state_dict()
    assert not [k for k in state if '.module.' in k]
    assert {k.split('.')[0] for k in state} == {
        'architecture', 'generator', 'teacher'}
    assert hasattr(state, '_metadata')
    _load_checkpoint_to_model(dst, dict(state_dict=state), strict=True)
    for k, v in src.state_dict().items():
        assert torch.equal(v, dst.state_dict()[k]), k
