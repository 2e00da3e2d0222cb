"""PrioritizedReplay: the buffer, δ and π as one object (plain torch)."""
import ast
import glob
import os.path as osp

import pytest
import torch
from conftest import ROOT

from ssdkd_mm.replay import (PrioritizedReplay, PriorityRule, PrioritySampler,
                             ReplayBuffer)

IMG = (1, 4, 4)


def _given(student_logits, teacher_logits, tau):
    """A stand-in divergence: the "student logits" are the KL itself."""
    return student_logits - teacher_logits


def _as_logits(kl):
    """(teacher, student) logits whose :func:`_given` divergence is kl."""
    return torch.zeros_like(kl), kl


def _replay(capacity=4, sampler=None, divergence=_given, **rule):
    return PrioritizedReplay(
        ReplayBuffer(capacity, IMG),
        PrioritySampler(**(sampler or {})),
        PriorityRule(**rule),
        divergence=divergence)


def test_replay_package_imports_no_openmmlab_module():
    """replay/ stays plain torch: no mmengine/mmcv/mmrazor/... import."""
    for path in glob.glob(osp.join(ROOT, 'ssdkd_mm', 'replay', '*.py')):
        tree = ast.parse(open(path).read(), path)
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or '']
            for name in names:
                assert not name.split('.')[0].startswith('mm'), (path, name)


def test_priority_rule_uses_phi_and_eps():
    phi, kl = torch.tensor([2.0, 0.5]), torch.tensor([1.0, 4.0])
    assert torch.allclose(
        PriorityRule(eps=1e-3)(phi, kl), torch.tensor([2.001, 2.001]))
    assert torch.allclose(
        PriorityRule(uses_phi=False, eps=1e-3)(phi, kl),
        torch.tensor([1.001, 4.001]))
    with pytest.raises(ValueError, match='new_entry'):
        PriorityRule(new_entry='min')
    with pytest.raises(ValueError, match='insert_top_k'):
        PriorityRule(insert_top_k=0)


def test_insert_top_k_and_max_new_entry():
    rep = _replay(capacity=8, insert_top_k=2)
    kl = torch.tensor([0.1, 3.0, 2.0, 0.5])
    rep.insert(
        torch.rand(4, *IMG), torch.ones(4), torch.arange(4), *_as_logits(kl),
        0)
    # only the two highest-π samples (labels 1 and 2) went in
    assert sorted(rep.buffer.pseudo_label.tolist()) == [1, 2]
    rep = _replay(capacity=8, new_entry='max')
    rep.insert(
        torch.rand(2, *IMG), torch.ones(2), torch.arange(2),
        *_as_logits(torch.tensor([1.0, 5.0])), 0)
    rep.insert(
        torch.rand(2, *IMG), torch.ones(2), torch.arange(2),
        *_as_logits(torch.tensor([0.0, 0.0])), 1)
    assert rep.buffer.priority[2:].tolist() == pytest.approx([5.0] * 2)


def test_draw_normalises_weights_once():
    for norm, check in (('mean', lambda w: w.mean() == pytest.approx(1.0)),
                        ('max', lambda w: w.max() <= 1.0)):
        rep = _replay(
            capacity=8, sampler=dict(is_weight_norm=norm, beta=(1.0, 1.0)))
        rep.insert(
            torch.rand(4, *IMG), torch.ones(4), torch.arange(4),
            *_as_logits(torch.tensor([0.01, 1.0, 10.0, 100.0])), 0)
        x, idx, w = rep.draw(64)
        assert x.shape == (64, *IMG) and idx.shape == w.shape == (64, )
        assert check(w)
        if norm == 'max':  # PER's weights as drawn, not rescaled again
            assert torch.equal(w, rep.last_raw_weights)
    rep = _replay(sampler=dict(importance_weighting=False))
    rep.insert(
        torch.rand(4, *IMG), torch.ones(4), torch.arange(4),
        *_as_logits(torch.rand(4)), 0)
    assert torch.equal(rep.draw(8)[2], torch.ones(8))


def test_reprioritize_refresh_and_state():
    rep = _replay(capacity=4)
    rep.insert(
        torch.rand(4, *IMG), torch.full((4, ), 2.0), torch.arange(4),
        *_as_logits(torch.ones(4)), 0)
    idx = torch.tensor([1, 1, 3])
    rep.reprioritize(idx, torch.tensor([0.5, 0.5, 3.0]), torch.zeros(3))
    assert rep.buffer.priority.tolist() == pytest.approx([2.0, 1.0, 2.0, 6.0],
                                                         abs=1e-5)
    assert rep.buffer.times_sampled.tolist() == [0, 2, 0, 1]
    label, kl = rep.score_all(
        lambda x: (x.flatten(1).mean(1), torch.ones(len(x))), 'cpu', chunk=3)
    assert label.shape == kl.shape == (4, )
    rep.update_scores(
        torch.ones(4), torch.zeros(4, dtype=torch.long), kl * 0.25)
    assert rep.buffer.priority.tolist() == pytest.approx([0.25] * 4, abs=1e-5)
    rep.sampler.set_progress(0.5)
    other = _replay(capacity=4)
    other.load_state_dict(rep.state_dict())
    assert torch.equal(other.buffer.images, rep.buffer.images)
    assert other.sampler.progress == 0.5


@pytest.mark.parametrize('old,new', [
    (dict(sampler=dict(priority_tau=2.0)), 'priority.tau'),
    (dict(sampler=dict(priority_uses_phi=False)), 'priority.uses_phi'),
    (dict(sampler=dict(new_priority='max')), 'priority.new_entry'),
    (dict(inversion=dict(insert_top_k=4)), 'priority.insert_top_k'),
    (dict(kd=dict(is_weight_norm='max')), 'sampler.is_weight_norm'),
    (dict(kd=dict(importance_weighting=False)),
     'sampler.importance_weighting'),
    (dict(replay_buffer=dict(device='cpu')), 'replay_buffer.storage_device'),
])
def test_moved_keys_are_rejected_naming_their_new_home(old, new):
    from conftest import tiny_algorithm_cfg
    from mmrazor.registry import MODELS
    with pytest.raises(KeyError, match=f'is now {new}'):
        MODELS.build(tiny_algorithm_cfg(**old))


def test_new_homes_reach_their_components():
    from conftest import tiny_algorithm_cfg
    from mmrazor.registry import MODELS
    alg = MODELS.build(
        tiny_algorithm_cfg(
            priority=dict(
                tau=2.0, uses_phi=False, new_entry='max', insert_top_k=4),
            sampler=dict(
                is_weight_norm='max', importance_weighting=False, eps=1e-4),
            replay_buffer=dict(storage_device='cpu')))
    rule, smp = alg.replay.rule, alg.replay.sampler
    assert (rule.tau, rule.uses_phi, rule.new_entry, rule.insert_top_k,
            rule.eps) == (2.0, False, 'max', 4, 1e-4)
    assert (smp.is_weight_norm, smp.importance_weighting) == ('max', False)
    assert alg.replay.storage_device == 'cpu'


def test_diagnostics_of_draws_insertions_and_evictions():
    rep = _replay(capacity=4, sampler=dict(beta=(1.0, 1.0)))
    rep.insert(
        torch.rand(4, *IMG),
        torch.ones(4),
        torch.arange(4),
        *_as_logits(torch.tensor([0.01, 1.0, 10.0, 100.0])),
        0,
        confidence=torch.tensor([0.5, 0.5, 1.0, 1.0]))
    d = rep.diagnostics()
    assert d['turnover'] == 1.0 and d['insert_conf'] == pytest.approx(0.75)
    assert d['buffer_conf'] == pytest.approx(0.75)
    assert 'is_ess' not in d and 'evicted_undrawn' not in d
    rep.draw(32)
    d = rep.diagnostics()
    # skewed priorities: fewer effective samples/entries than drawn
    assert 0 < d['is_ess'] < 1 and 0.25 <= d['sampler_eff_size'] < 1
    assert d['drawn_age'] == pytest.approx(
        (4 - rep.buffer.insert_order.float()).mean().item() / 4, abs=0.5)
    assert d['draws_per_image'] == 8.0
    # the two lowest-π entries are evicted; entry 0 may never have been
    # drawn, the share is in [0, 1] and counted over evictions
    rep.insert(
        torch.rand(2, *IMG), torch.ones(2), torch.arange(2),
        *_as_logits(torch.ones(2)), 1)
    d = rep.diagnostics()
    assert rep.buffer.n_evicted == 2 and 0 <= d['evicted_undrawn'] <= 1
    assert d['turnover'] == 1.5
    assert 'is_ess' not in d  # the window restarts after each call
    uniform = _replay(sampler=dict(mode='uniform'))
    uniform.insert(
        torch.rand(4, *IMG), torch.ones(4), torch.arange(4),
        *_as_logits(torch.rand(4)), 0)
    uniform.draw(8)
    d = uniform.diagnostics()
    assert d['is_ess'] == pytest.approx(1.0)
    assert d['sampler_eff_size'] == pytest.approx(1.0)


def test_uniform_mix_bounds_the_weights():
    prio = torch.tensor([1e-6, 1.0, 1.0, 1.0])
    pure = PrioritySampler(alpha=1.0).probabilities(prio)
    mixed = PrioritySampler(alpha=1.0, uniform_mix=0.5).probabilities(prio)
    assert torch.allclose(mixed, 0.5 * pure + 0.125)
    assert mixed.sum() == pytest.approx(1.0) and mixed.min() >= 0.125
    with pytest.raises(ValueError, match='uniform_mix'):
        PrioritySampler(uniform_mix=1.0)


def test_buffer_state_without_confidence_loads_as_nan():
    """Checkpoints written before the confidence field still resume."""
    a = ReplayBuffer(4, IMG)
    a.add(
        torch.rand(2, *IMG),
        torch.ones(2),
        torch.arange(2),
        torch.ones(2),
        0,
        confidence=torch.tensor([0.9, 0.8]))
    state = a.state_dict()
    assert state['confidence'].tolist() == pytest.approx([0.9, 0.8])
    for key in ('confidence', 'n_evicted', 'n_evicted_undrawn'):
        del state[key]
    b = ReplayBuffer(4, IMG)
    b.load_state_dict(state)
    assert b.confidence.isnan().all() and torch.equal(b.images, a.images)


def test_pi_is_computed_from_the_logits_given():
    """π = φ·KL_τp(p_t ‖ p_s) + ε, the KL computed by the replay itself at
    its τ_p from the teacher and student logits of insert/reprioritize."""
    from ssdkd_mm.models.losses import per_sample_kl
    rep = _replay(capacity=4, divergence=per_sample_kl, tau=2.0)
    t = torch.tensor([[2.0, 0.0], [0.0, 3.0]])
    s = torch.tensor([[2.0, 0.0], [3.0, 0.0]])
    phi = torch.tensor([0.5, 2.0])
    rep.insert(torch.rand(2, *IMG), phi, torch.arange(2), t, s, 0)
    kl = per_sample_kl(s, t, 2.0)
    assert kl[0] == 0 and kl[1] > 0
    assert rep.buffer.priority.tolist() == pytest.approx(
        (phi * kl + 1e-6).tolist())
    rep.reprioritize(torch.tensor([0]), s[1:].requires_grad_(), t[1:])
    assert rep.buffer.priority[0].item() == pytest.approx(
        0.5 * kl[1].item() + 1e-6)
    with pytest.raises(RuntimeError, match='divergence'):
        _replay(divergence=None).insert(torch.rand(1, *IMG), phi[:1],
                                        torch.arange(1), t[:1], s[:1], 0)


def test_refresh_rescores_every_entry_with_the_models_given():
    from torch import nn

    from ssdkd_mm.models.algorithms.task_adapters import ClsTaskAdapter
    from ssdkd_mm.replay import ModulatingFunction, Scoring

    class Linear(nn.Module):

        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 3)

        def forward(self, x, mode='tensor'):
            return self.fc(x.flatten(1))

    torch.manual_seed(0)
    task = ClsTaskAdapter()
    teacher, student = Linear(), Linear()
    scoring = Scoring(teacher, student, lambda x: x * 2 - 1, task,
                      ModulatingFunction())
    rep = _replay(capacity=4, divergence=task.kl, tau=3.0)
    x = torch.rand(4, *IMG)
    phi, label, unc, t, s = scoring.score(x)
    rep.insert(x, phi, label, t, s, 0)
    with torch.no_grad():
        for p in student.parameters():
            p.add_(1.0)
    student.train()
    rep.refresh(scoring, 'cpu', chunk=3)
    assert student.training  # scored in eval mode, mode restored
    x = rep.buffer.get(torch.arange(4))
    t, s = teacher(x * 2 - 1), student(x * 2 - 1)
    unc, hist = task.phi_statistics(t)
    want = rep.rule(scoring.modulating(unc, hist, normalize=False),
                    task.kl(s, t, 3.0))
    # chunks of 3 and 1 vs one batch of 4: GEMM rounding differs per CPU
    assert torch.allclose(rep.buffer.priority, want, rtol=1e-4, atol=1e-7)
    assert torch.equal(rep.buffer.pseudo_label, t.argmax(1))
