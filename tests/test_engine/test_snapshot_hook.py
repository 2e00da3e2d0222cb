"""SSDKDSnapshotHook: weights copied at wall-clock points (fake clock) and
at the last iteration, with the algorithm's progress counters."""
import types

import pytest
import torch
import torch.nn as nn

from ssdkd_mm.engine.hooks import SSDKDSnapshotHook, progress
from ssdkd_mm.engine.hooks import snapshot_hook as mod


class _Alg(nn.Module):

    def __init__(self):
        super().__init__()
        self.architecture = nn.Linear(2, 2)
        self.synth_time = self.kd_time = 0.0
        self.kd_steps = self.rounds = 0
        self.synthetic_images = 0

    @property
    def student(self):
        return self.architecture


def _runner(alg, max_iters):
    loop = types.SimpleNamespace(max_iters=max_iters)
    return types.SimpleNamespace(model=alg, iter=0, max_iters=max_iters,
                                 train_loop=loop)


def test_snapshots_at_points_and_end(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(mod.time, 'perf_counter', lambda: now[0])
    alg = _Alg()
    runner = _runner(alg, max_iters=5)
    hook = SSDKDSnapshotHook(times_s=[2.0, 1.0])  # sorted by the hook
    hook.before_train(runner)
    # iterations end at t = 0.5, 1.5, 1.8, 3.0 (both points passed), 3.5
    for i, t in enumerate([0.5, 1.5, 1.8, 3.0, 3.5]):
        runner.iter = i
        hook.before_train_iter(runner, i)
        now[0] = 100.0 + t
        with torch.no_grad():
            alg.architecture.weight.fill_(float(i))
        alg.kd_steps = i + 1
        alg.synthetic_images = 10 * (i + 1)
        hook.after_train_iter(runner, i)
    hook.after_train(runner)  # nothing more: the end was taken
    points = [s['point_s'] for s in hook.snapshots]
    assert points == [1.0, 2.0, None]
    assert [s['iter'] for s in hook.snapshots] == [1, 3, 4]
    assert [s['train_s'] for s in hook.snapshots] == [1.5, 3.0, 3.5]
    assert [s['kd_steps'] for s in hook.snapshots] == [2, 4, 5]
    assert [s['synthetic_images'] for s in hook.snapshots] == [20, 40, 50]
    # copies, not references to the live weights
    assert hook.snapshots[0]['state_dict']['weight'].eq(1.0).all()
    assert hook.snapshots[2]['state_dict']['weight'].eq(4.0).all()


def test_stopped_early_still_gets_a_final_snapshot(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(mod.time, 'perf_counter', lambda: now[0])
    alg = _Alg()
    runner = _runner(alg, max_iters=100)
    hook = SSDKDSnapshotHook(times_s=[10.0])
    hook.before_train(runner)
    hook.before_train_iter(runner, 0)
    now[0] = 1.0
    hook.after_train_iter(runner, 0)
    hook.after_train(runner)
    assert [s['point_s'] for s in hook.snapshots] == [None]


def test_progress_of_ssdkd_reads_the_buffer(tiny_alg):
    p = progress(tiny_alg)
    assert p == dict(synth_time_s=0.0, kd_time_s=0.0, kd_steps=0,
                     synthesis_rounds=0, synthetic_images=0)


def test_bad_times():
    with pytest.raises(ValueError, match='times_s'):
        SSDKDSnapshotHook(times_s=[0, 5])
