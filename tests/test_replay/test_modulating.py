import pytest
import torch

from ssdkd_mm.replay import ModulatingFunction


def test_phi_hand_computed_inverse_frequency_and_focal():
    phi = ModulatingFunction(gamma=2.0, diversity='inverse_freq', kappa=5.0,
                             normalize=False)
    unc = 1 - torch.tensor([0.9, 0.5, 0.2])  # 1 - teacher confidence
    hist = torch.tensor([[1., 0.], [1., 0.], [0., 1.]])
    ref = torch.tensor([5., 1.])  # buffer counts; batch adds [2, 1]
    # counts = [7, 2], N = 9, C = 2 -> f = [9/14, 9/4]
    expected = torch.tensor([0.1**2 * 9 / 14, 0.5**2 * 9 / 14,
                             0.8**2 * 9 / 4])
    assert torch.allclose(phi(unc, hist, ref), expected, atol=1e-6)
    normalized = phi(unc, hist, ref, normalize=True)
    assert torch.allclose(normalized, expected / expected.mean(), atol=1e-6)


def test_phi_kappa_cap_literal_and_normalisation():
    hist = torch.tensor([[1., 0.], [0., 1.]])
    conf = torch.ones(2)  # uncertainty 1: difficulty factor 1
    capped = ModulatingFunction(gamma=0, kappa=2.0, normalize=False)
    # counts [1, 99] with the batch, N = 100 -> f_0 = 100/2 capped at 2
    out = capped(conf, hist, torch.tensor([0., 98.]))
    assert out[0].item() == pytest.approx(2.0)
    assert out[1].item() == pytest.approx(100 / (2 * 99))
    literal = ModulatingFunction(gamma=0, diversity='literal',
                                 normalize=False)
    out = literal(conf, hist, torch.tensor([2., 0.]))  # counts [3, 1]
    assert torch.allclose(out, torch.tensor([1 - 3 / 4, 1 - 1 / 4]))
    norm = ModulatingFunction(gamma=1.0, diversity='none')
    out = norm(torch.tensor([0.5, 1.0]), hist)
    assert torch.allclose(out, torch.tensor([0.5, 1.0]) / 0.75)


def test_phi_off_is_identity_and_detached():
    off = ModulatingFunction(gamma=0, diversity='none')
    assert off.is_identity
    conf = torch.rand(4, requires_grad=True)
    out = off(conf, torch.eye(4))
    assert torch.equal(out, torch.ones(4)) and not out.requires_grad


@pytest.mark.parametrize('kwargs', [dict(gamma=-1), dict(diversity='x'),
                                    dict(kappa=0)])
def test_phi_bad_knobs(kwargs):
    with pytest.raises(ValueError, match='modulating'):
        ModulatingFunction(**kwargs)


def test_phi_statistics_target_class_and_stable_uncertainty():
    from ssdkd_mm.models.algorithms.task_adapters import ClsTaskAdapter
    logits = torch.tensor([[0., 40., 0.], [2., 0., 0.]])
    unc, hist = ClsTaskAdapter().phi_statistics(logits)
    # confident sample: 1 - p is ~2·e^-40, not rounded to 0 in fp32
    assert 0 < unc[0] < 1e-16
    p = torch.softmax(logits[1], 0)
    assert unc[1].item() == pytest.approx(1 - p[0].item(), rel=1e-6)
    assert torch.equal(hist.argmax(1), torch.tensor([1, 0]))
    # inverting: the difficulty of the sampled target class (focal factor)
    unc_t, hist_t = ClsTaskAdapter().phi_statistics(
        logits, torch.tensor([2, 1]))
    assert unc_t[0].item() == pytest.approx(1.0)
    assert unc_t[1].item() == pytest.approx(1 - p[1].item(), rel=1e-6)
    assert torch.equal(hist_t.argmax(1), torch.tensor([2, 1]))
