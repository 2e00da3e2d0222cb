# Copyright (c) ssdkd_mm contributors. All rights reserved.
import pytest
import torch

from ssdkd_mm.replay.sampler import PrioritySampler

PRIO = torch.tensor([1.0, 2.0, 3.0, 4.0])
# sqrt(i) / (1 + sqrt2 + sqrt3 + 2)
P_PROP = [0.16270045, 0.23009319, 0.28180545, 0.32540091]
# ranks [4, 3, 2, 1]: rank^-0.5 / sum
P_RANK = [0.17956822, 0.20734752, 0.25394781, 0.35913644]


def _close(t, ref, tol=1e-6):
    return torch.allclose(t.double(), torch.tensor(ref).double(), atol=tol)


def test_probabilities_proportional():
    p = PrioritySampler(alpha=0.5).probabilities(PRIO)
    assert p.dtype == torch.float32 and _close(p, P_PROP)
    # alpha = 1: plain normalisation; a zero π gets ε again.
    p = PrioritySampler(alpha=1.0, eps=0.01).probabilities(
        torch.tensor([0.0, 1.0]))
    assert _close(p, [0.01 / 1.01, 1 / 1.01])


def test_probabilities_rank_and_ties():
    s = PrioritySampler(alpha=0.5, mode='rank')
    assert _close(s.probabilities(PRIO), P_RANK)
    # Ties keep buffer order: ranks [1, 2, 3] for π = [2, 2, 1].
    p = PrioritySampler(alpha=1.0, mode='rank').probabilities(
        torch.tensor([2.0, 2.0, 1.0]))
    z = 1 + 1 / 2 + 1 / 3
    assert _close(p, [1 / z, 0.5 / z, (1 / 3) / z])


def test_probabilities_uniform():
    s = PrioritySampler(mode='uniform')
    assert _close(s.probabilities(PRIO), [0.25] * 4)


def test_importance_weights():
    s = PrioritySampler(alpha=0.5, beta=(0.4, 1.0))
    probs = s.probabilities(PRIO)
    w = s.importance_weights(probs, torch.tensor([0, 1, 2, 3, 3]))
    # (P_min / P_i)^0.4 = (1 / sqrt(i))^0.4 = i^-0.2
    assert w.dtype == torch.float32
    assert _close(w, [1.0, 0.87055056, 0.80274156, 0.75785828, 0.75785828])
    # Same as the textbook form (N·P(i))^-β / max_j (N·P(j))^-β.
    raw = (4 * probs).pow(-0.4)
    assert torch.allclose(w, (raw / raw.max())[[0, 1, 2, 3, 3]], atol=1e-6)
    s.set_progress(1.0)  # β = 1
    w = s.importance_weights(probs, torch.tensor([3]))
    assert _close(w, [0.5])
    u = PrioritySampler(mode='uniform')
    assert u.importance_weights(u.probabilities(PRIO),
                                torch.tensor([0, 2])).tolist() == [1.0, 1.0]


def test_beta_schedule():
    s = PrioritySampler(beta=(0.4, 1.0))
    assert s.beta == 0.4
    s.set_progress(0.5)
    assert s.beta == pytest.approx(0.7)
    s.set_progress(1.0)
    assert s.beta == 1.0
    s.set_progress(3.0)
    assert s.beta == 1.0 and s.progress == 1.0
    s.set_progress(-1.0)
    assert s.beta == 0.4


def test_sample_indices_and_weights():
    s = PrioritySampler(alpha=0.5)
    s.set_progress(0.25)
    g = torch.Generator().manual_seed(0)
    idx, w = s.sample(PRIO, 64, generator=g)
    assert idx.dtype == torch.int64 and w.dtype == torch.float32
    assert idx.shape == w.shape == (64, )
    assert int(idx.min()) >= 0 and int(idx.max()) <= 3
    expected = s.importance_weights(s.probabilities(PRIO), idx)
    assert torch.equal(w, expected)
    assert s.n_sampled == 64
    # Same seed, same draws.
    idx2, _ = s.sample(PRIO, 64, generator=torch.Generator().manual_seed(0))
    assert torch.equal(idx, idx2) and s.n_sampled == 128


def test_empirical_frequency_matches_probabilities():
    s = PrioritySampler(alpha=0.5)
    g = torch.Generator().manual_seed(1)
    idx, _ = s.sample(PRIO, 20000, generator=g)
    freq = torch.bincount(idx, minlength=4).double() / 20000
    assert _close(freq, P_PROP, tol=0.015)


def test_new_priority():
    from ssdkd_mm.replay import PriorityRule
    rule = PriorityRule(uses_phi=False, eps=1e-3)
    pri = rule(torch.ones(3), torch.tensor([-1.0, 0.0, 2.0]))
    assert _close(pri, [1e-3, 1e-3, 2.001])


def test_state_dict_round_trip():
    a = PrioritySampler(alpha=0.7, beta=(0.5, 0.9), eps=1e-4, mode='rank')
    a.set_progress(0.3)
    a.sample(PRIO, 5)
    state = a.state_dict()
    assert state == dict(
        progress=0.3,
        beta=a.beta,
        n_sampled=5,
        alpha=0.7,
        beta0=0.5,
        beta1=0.9,
        eps=1e-4,
        mode='rank')
    b = PrioritySampler(alpha=0.7, beta=(0.5, 0.9), eps=1e-4, mode='rank')
    b.load_state_dict(state)
    assert (b.progress, b.beta, b.n_sampled) == (0.3, a.beta, 5)
    assert b.beta == pytest.approx(0.62)
    with pytest.raises(ValueError, match='mode'):
        PrioritySampler(mode='proportional').load_state_dict(state)


@pytest.mark.parametrize('kwargs, knob', [
    (dict(alpha=-0.1), 'alpha'),
    (dict(eps=0.0), 'eps'),
    (dict(beta=(0.4, 1.5)), r'beta.*\[0, 1\]'),
    (dict(beta=(-0.1, 1.0)), 'beta'),
    (dict(beta=0.4), 'beta'),
    (dict(mode='greedy'), "'proportional', 'rank', 'uniform'"),
])
def test_invalid_config_raises(kwargs, knob):
    with pytest.raises(ValueError, match=knob):
        PrioritySampler(**kwargs)


def test_invalid_sample_arguments_raise():
    s = PrioritySampler()
    with pytest.raises(ValueError, match='empty replay buffer'):
        s.sample(torch.zeros(0), 4)
    with pytest.raises(ValueError, match='batch_size'):
        s.sample(PRIO, 0)
