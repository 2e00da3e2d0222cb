import pytest
import torch

from ssdkd_mm.models import SSDKDGenerator


def test_generator_range_shape_clone_and_reset():
    torch.manual_seed(0)
    g = SSDKDGenerator(nz=8, ngf=4, img_size=28, nc=1)
    x = g(torch.randn(3, 8))
    assert x.shape == (3, 1, 28, 28) and g.img_shape == (1, 28, 28)
    assert x.min() >= 0 and x.max() <= 1
    clone = g.clone()
    with torch.no_grad():
        clone.l1[0].weight.add_(1.0)
    assert not torch.equal(clone.l1[0].weight, g.l1[0].weight)
    before = g.l1[0].weight.clone()
    g.reset_l0()
    assert not torch.equal(before, g.l1[0].weight)
    assert torch.all(g.l1[0].bias == 0)


def test_generator_rejects_bad_size():
    with pytest.raises(ValueError, match='divisible by 4'):
        SSDKDGenerator(img_size=30)
