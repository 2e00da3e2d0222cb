import pytest
import torch

from ssdkd_mm.models.losses import ModulatingFunction


def test_phi_hand_computed_inverse_frequency_and_focal():
    phi = ModulatingFunction(gamma=2.0, diversity='inverse_freq', kappa=5.0,
                             normalize=False)
    conf = torch.tensor([0.9, 0.5, 0.2])
    hist = torch.tensor([[1., 0.], [1., 0.], [0., 1.]])
    ref = torch.tensor([5., 1.])  # buffer counts; batch adds [2, 1]
    # counts = [7, 2], N = 9, C = 2 -> f = [9/14, 9/4]
    expected = torch.tensor([0.1**2 * 9 / 14, 0.5**2 * 9 / 14,
                             0.8**2 * 9 / 4])
    assert torch.allclose(phi(conf, hist, ref), expected, atol=1e-6)


def test_phi_kappa_cap_literal_and_normalisation():
    hist = torch.tensor([[1., 0.], [0., 1.]])
    conf = torch.zeros(2)
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
    out = norm(torch.tensor([0.5, 0.0]), hist)
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
