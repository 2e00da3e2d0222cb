"""The algorithm's state: one dict (ssdkd_state_dict), saved under one
checkpoint key; checkpoints of the two-hook layout (version 1) load."""
import pytest
import torch
from _tiny_ssdkd import assert_same
from conftest import build_optim, tiny_algorithm_cfg
from mmrazor.registry import MODELS

from ssdkd_mm.models.algorithms.state import upgrade_state


def _trained():
    torch.manual_seed(0)
    alg = MODELS.build(tiny_algorithm_cfg())
    ow = build_optim(alg)
    for i in range(3):
        alg.synthesis_due, alg.distill_due, alg.adversarial = True, i > 0, 0
        alg.train_step(None, ow)
    return alg


def test_state_round_trips_through_one_dict():
    alg = _trained()
    state = alg.ssdkd_state_dict()
    assert state['version'] == 2 and state['rounds'] == 3
    assert state['kd_steps'] == 2
    assert state['replay']['buffer']['size'] == 16
    fresh = MODELS.build(tiny_algorithm_cfg())
    fresh.load_ssdkd_state_dict(state)
    assert_same(fresh.ssdkd_state_dict(), state, 'ssdkd')


def test_version_1_checkpoints_of_the_two_hooks_load():
    alg = _trained()
    state = alg.ssdkd_state_dict()
    old = dict(
        inversion=dict(bn_loss=state['synthesizer']['bn_loss'],
                       rounds=3, kd_steps=2, synth_time=state['synth_time'],
                       kd_time=state['kd_time'], nonfinite_skipped=0),
        replay_buffer=state['replay']['buffer'],
        sampler=state['replay']['sampler'])
    fresh = MODELS.build(tiny_algorithm_cfg())
    fresh.load_ssdkd_state_dict(old)
    assert_same(fresh.ssdkd_state_dict(), state, 'ssdkd')


def test_unknown_layout_stops_in_one_line():
    with pytest.raises(ValueError, match='reads versions 1 and 2'):
        upgrade_state(dict(version=3))
