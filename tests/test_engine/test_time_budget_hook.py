"""The budget hook's arithmetic, on a fake clock (no real timing)."""
from types import SimpleNamespace

import pytest
import torch
from mmengine.optim import CosineAnnealingLR

import ssdkd_mm.engine.hooks.time_budget_hook as tbh
from ssdkd_mm.engine.hooks import SSDKDTimeBudgetHook


class FakeClock:

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _runner(max_iters):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = CosineAnnealingLR(opt, begin=2, end=max_iters, T_max=max_iters - 2,
                              by_epoch=False)
    loop = SimpleNamespace(_max_iters=max_iters, stop_training=False)
    return SimpleNamespace(train_loop=loop, iter=0,
                           param_schedulers=dict(architecture=[sched]))


def _run(hook, runner, clock, secs_per_iter, n):
    for _ in range(n):
        if runner.iter >= runner.train_loop._max_iters:
            break
        hook.before_train_iter(runner, runner.iter)
        clock.now += secs_per_iter(runner.iter)
        hook.after_train_iter(runner, runner.iter)
        runner.iter += 1


def test_budget_sets_max_iters_and_stretches_schedule(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(tbh.time, 'perf_counter', clock)
    runner = _runner(10**6)
    hook = SSDKDTimeBudgetHook(budget_s=100.0, begin_iter=2,
                               calibrate_iters=10)
    hook.before_train(runner)
    # warm-up iterations cost 5 s, the rest 1 s each
    _run(hook, runner, clock, lambda it: 5.0 if it < 2 else 1.0, 12)
    # 10 s warm-up + 10 s measured at 1 s/iter; 80 s left -> 80 more iters
    assert runner.train_loop._max_iters == 12 + 80
    sched = runner.param_schedulers['architecture'][0]
    assert sched.end == 92 and sched.T_max == 90
    _run(hook, runner, clock, lambda it: 1.0, 1000)
    assert runner.iter == 92 and hook.elapsed_s == pytest.approx(100.0)


def test_budget_ends_run_when_iterations_slow_down(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(tbh.time, 'perf_counter', clock)
    runner = _runner(10**6)
    hook = SSDKDTimeBudgetHook(budget_s=50.0, calibrate_iters=5)
    hook.before_train(runner)
    _run(hook, runner, clock, lambda it: 1.0 if it < 5 else 4.0, 1000)
    # planned 5 + 45 iters, but at 4 s/iter the budget ends the run early;
    # the last iteration is the one that crossed the budget
    assert hook.elapsed_s >= 50.0 and hook.elapsed_s - 4.0 < 50.0
    assert runner.train_loop._max_iters == runner.iter
    assert not runner.train_loop.stop_training


def test_budget_rejects_bad_arguments():
    with pytest.raises(ValueError):
        SSDKDTimeBudgetHook(budget_s=0)


def test_budget_follows_iterations_that_get_cheaper(monkeypatch):
    # Synthesis stopped once the buffer is full: iterations cost 2 s, then
    # 1 s. The estimate from the whole run's average (the hook before
    # re-estimating from recent iterations) ended this run at 159 of 200 s.
    clock = FakeClock()
    monkeypatch.setattr(tbh.time, 'perf_counter', clock)
    runner = _runner(10**6)
    hook = SSDKDTimeBudgetHook(budget_s=200.0, calibrate_iters=10)
    hook.before_train(runner)
    _run(hook, runner, clock, lambda it: 2.0 if it < 40 else 1.0, 10**4)
    assert runner.iter == runner.train_loop._max_iters
    assert 195.0 <= hook.elapsed_s <= 200.0
    sched = runner.param_schedulers['architecture'][0]
    assert sched.end == runner.iter  # the cosine anneals at the real end
