"""StudentStep (models/algorithms/student_step.py): the whole student step
on explicit inputs, without an algorithm object."""
import pytest
import torch
from conftest import tiny_classifier
from mmengine.optim import OptimWrapper
from mmrazor.registry import MODELS

from ssdkd_mm.models.algorithms.student_step import StepInputs, StudentStep
from ssdkd_mm.models.algorithms.task_adapters import ClsTaskAdapter
from ssdkd_mm.models.nonfinite import NonFiniteGuard
from ssdkd_mm.models.synthesis import InversionSynthesizer
from ssdkd_mm.replay import (PrioritizedReplay, PriorityRule,
                             PrioritySampler, ReplayBuffer)

IMG = (1, 28, 28)


def _normalize(x01):
    return (x01 * 255.0 - 72.94) / 90.02


def _inputs(step, capacity=16):
    torch.manual_seed(0)
    task = ClsTaskAdapter()
    teacher, student = (MODELS.build(tiny_classifier()),
                        MODELS.build(tiny_classifier()))
    teacher.eval()
    replay = PrioritizedReplay(
        ReplayBuffer(capacity, IMG), PrioritySampler(), PriorityRule(),
        view_cache=step.view_cache, divergence=task.kl)
    x = torch.rand(capacity, *IMG)
    with torch.no_grad():
        t = task.logits(teacher, _normalize(x))
        s = task.logits(student, _normalize(x))
    replay.insert(x, torch.ones(capacity), t.argmax(1), t, s, 0)
    return StepInputs(
        teacher=teacher, student=student, normalize=_normalize, task=task,
        replay=replay, source=InversionSynthesizer(), img_shape=IMG,
        device=torch.device('cpu'), guard=NonFiniteGuard(), num_classes=10,
        kappa=10.0)


def _optim(inputs, lr=0.1):
    return OptimWrapper(torch.optim.SGD(inputs.student.parameters(), lr=lr))


def test_one_step_draws_updates_and_reprioritises():
    step = StudentStep(batch_size=8, augment=dict(crop_padding=0,
                                                  hflip=False))
    inputs = _inputs(step)
    before = [p.clone() for p in inputs.student.parameters()]
    prio = inputs.replay.buffer.priority.clone()
    log = step(inputs, _optim(inputs))
    assert set(log) == {'loss_kd', 'is_weight_mean'}
    assert torch.isfinite(log['loss_kd'])
    assert any(not torch.equal(a, b)
               for a, b in zip(before, inputs.student.parameters()))
    drawn = inputs.replay.buffer.times_sampled > 0
    assert int(inputs.replay.buffer.times_sampled.sum()) == 8
    # π of the drawn entries moved (the student changed), the others not
    now = inputs.replay.buffer.priority
    assert torch.equal(now[~drawn], prio[~drawn])
    assert not torch.equal(now[drawn], prio[drawn])


def test_the_loss_is_the_is_weighted_kd_of_the_teacher_targets(monkeypatch):
    step = StudentStep(batch_size=4, tau=2.0,
                       augment=dict(crop_padding=0, hflip=False))
    inputs = _inputs(step)
    idx, w = torch.arange(4), torch.tensor([0.5, 1.0, 2.0, 4.0])
    monkeypatch.setattr(inputs.replay.sampler, 'sample',
                        lambda p, n: (idx, w))
    log = step(inputs, _optim(inputs, lr=0.0))
    x = _normalize(inputs.replay.buffer.get(idx))
    with torch.no_grad():
        kl = inputs.task.kl(inputs.task.logits(inputs.student, x),
                            inputs.task.logits(inputs.teacher, x), 2.0)
    w = w / w.mean()  # the sampler's default 'mean' normalisation
    assert log['loss_kd'].item() == pytest.approx((w * kl).mean().item(),
                                                  rel=1e-4)


def test_view_cache_is_an_option_of_the_step():
    step = StudentStep(batch_size=8, cached_views=1)
    assert step.view_cache is not None
    inputs = _inputs(step)
    for _ in range(3):
        step(inputs, _optim(inputs))
    assert step.view_cache.n_served == 24
    assert 0 < step.view_cache.n_computed <= 16  # one view per entry
    assert StudentStep().view_cache is None


def test_a_non_finite_loss_is_skipped_and_counted():
    step = StudentStep(batch_size=8)
    inputs = _inputs(step)
    with torch.no_grad():
        next(inputs.student.parameters()).fill_(float('nan'))
    sampled = inputs.replay.buffer.times_sampled.clone()
    assert step(inputs, _optim(inputs)) is None
    assert inputs.guard.skipped == 1
    assert torch.equal(inputs.replay.buffer.times_sampled, sampled)
