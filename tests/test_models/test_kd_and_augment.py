import pytest
import torch
import torch.nn.functional as F

from ssdkd_mm.models import BatchAugment
from ssdkd_mm.models.losses import per_sample_kl


def test_per_sample_kl_matches_definition():
    torch.manual_seed(0)
    s, t = torch.randn(3, 5), torch.randn(3, 5)
    tau = 4.0
    pt = F.softmax(t / tau, 1)
    expected = (pt * (pt.log() - F.log_softmax(s / tau, 1))).sum(1) * tau**2
    assert torch.allclose(per_sample_kl(s, t, tau), expected, atol=1e-6)
    assert torch.allclose(per_sample_kl(t, t, tau), torch.zeros(3),
                          atol=1e-6)


def test_dense_kl_is_a_pixel_mean_not_a_sum():
    torch.manual_seed(0)
    s, t = torch.randn(2, 4), torch.randn(2, 4)
    small = per_sample_kl(s[..., None, None].expand(2, 4, 4, 4),
                          t[..., None, None].expand(2, 4, 4, 4))
    large = per_sample_kl(s[..., None, None].expand(2, 4, 32, 32),
                          t[..., None, None].expand(2, 4, 32, 32))
    assert torch.allclose(small, large, atol=1e-6)
    assert torch.allclose(small, per_sample_kl(s, t), atol=1e-6)


def test_augment_identity_shapes_and_gradient():
    x = torch.rand(4, 1, 6, 6, requires_grad=True)
    assert torch.equal(BatchAugment(0, False)(x), x)
    out = BatchAugment(crop_padding=2, hflip=True)(x)
    assert out.shape == x.shape
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_augment_crop_is_a_shifted_window():
    g = torch.Generator().manual_seed(3)
    x = torch.arange(16.).view(1, 1, 4, 4)
    out = BatchAugment(crop_padding=1, hflip=False)(x, generator=g)
    padded = F.pad(x, (1, 1, 1, 1))
    windows = [padded[..., i:i + 4, j:j + 4] for i in range(3)
               for j in range(3)]
    assert any(torch.equal(out, w) for w in windows)
    with pytest.raises(ValueError):
        BatchAugment(crop_padding=-1)
