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


def test_scale_augment_zooms_and_keeps_gradients():
    import torch
    from ssdkd_mm.models.augment import BatchAugment
    x = torch.zeros(1, 1, 8, 8)
    x[..., 2:6, 2:6] = 1.0  # a centred 4x4 square
    g = torch.Generator().manual_seed(0)
    same = BatchAugment(crop_padding=0, hflip=False, scale=(1.0, 1.0))
    assert torch.equal(same(x), x)
    # zoom x2: the random shift keeps the view inside the image (no border)
    zoom_in = BatchAugment(crop_padding=0, hflip=False, scale=(2.0, 2.0))
    assert torch.allclose(zoom_in(torch.ones(4, 1, 8, 8), g),
                          torch.ones(4, 1, 8, 8))
    assert not torch.equal(zoom_in(x, g), x)
    # zoom out x0.5: a smaller square inside a zero border
    zoom_out = BatchAugment(crop_padding=0, hflip=False, scale=(0.5, 0.5))
    out = zoom_out(torch.ones(2, 3, 8, 8), g)
    assert out.shape == (2, 3, 8, 8)
    assert 0 < out.sum() < 2 * 3 * 64 * 0.5
    xr = torch.rand(2, 3, 8, 8, requires_grad=True)
    BatchAugment(scale=(0.5, 2.0), color_jitter=0.4)(xr).sum().backward()
    assert xr.grad is not None and xr.grad.abs().sum() > 0


def test_color_jitter_stays_in_range_and_rejects_bad_settings():
    import pytest
    import torch
    from ssdkd_mm.models.augment import BatchAugment
    y = BatchAugment(crop_padding=0, hflip=False, color_jitter=0.9)(
        torch.rand(8, 3, 4, 4))
    assert y.min() >= 0 and y.max() <= 1
    with pytest.raises(ValueError, match='scale'):
        BatchAugment(scale=(2.0, 1.0))
    with pytest.raises(ValueError, match='color_jitter'):
        BatchAugment(color_jitter=1.5)


def test_geometry_repeats_the_views_zoom_crop_and_flip():
    """Same generator state, same geometry: what moves dense targets with
    their image (the colour jitter draws after it and does not shift it)."""
    aug = BatchAugment(crop_padding=4, hflip=True, scale=(0.6, 1.6),
                       color_jitter=0.3)
    x = torch.rand(6, 3, 16, 16)
    view = aug(x, torch.Generator().manual_seed(3))
    geo = aug.geometry(x, torch.Generator().manual_seed(3))
    plain = BatchAugment(crop_padding=4, hflip=True, scale=(0.6, 1.6))
    assert torch.equal(plain(x, torch.Generator().manual_seed(3)), geo)
    assert not torch.equal(view, geo)  # the jitter changed colours only
    two = aug.geometry(torch.cat([x, x[:, :1]], 1),
                       torch.Generator().manual_seed(3))
    assert torch.allclose(two[:, :3], geo)  # any channel count, same moves


def test_hue_rotation_keeps_grey_levels_and_turns_colours():
    """hue=0.5 rotates RGB about the grey axis: grey levels (channel means)
    are kept, colours change, a third of a turn permutes the channels, the
    input keeps its gradient and grey-level images are rejected."""
    x = (torch.rand(16, 3, 5, 5) * 0.5 + 0.25).requires_grad_()
    aug = BatchAugment(crop_padding=0, hflip=False, hue=0.5)
    y = aug(x, torch.Generator().manual_seed(0))
    assert torch.allclose(y.mean(1), x.mean(1), atol=1e-5)
    assert (y - x).abs().amax((1, 2, 3)).min() > 0  # every image recoloured
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    # a third of a turn is the cyclic permutation (B, R, G)
    third = BatchAugment(crop_padding=0, hflip=False, hue=1 / 3)
    third._rand = lambda shape, t, g: torch.ones(shape)
    z = x.detach()
    assert torch.allclose(third(z), z[:, [2, 0, 1]], atol=1e-5)
    with pytest.raises(ValueError, match='augment.hue=0'):
        aug(torch.rand(2, 1, 5, 5))  # grey-level images have no hue
    assert torch.equal(BatchAugment(0, False, hue=0.0)(z), z)
    with pytest.raises(ValueError, match='hue'):
        BatchAugment(hue=0.7)


def test_mixup_blends_each_image_with_another_of_the_batch():
    from ssdkd_mm.models import BatchMix
    torch.manual_seed(0)
    # one-hot images: image i is 1 at pixel i only, so a mixture shows
    # exactly which two images it holds and in what shares
    n = 6
    x = torch.eye(n).view(n, 1, 1, n)
    mixed, lam = BatchMix('mixup', alpha=1.0)(x)
    assert mixed.shape == x.shape and lam.shape == (n,)
    assert bool((lam >= 0.5).all()) and bool((lam <= 1).all())
    flat = mixed.view(n, n)
    assert torch.allclose(flat.diagonal(), lam)
    off = flat - torch.diag(flat.diagonal())
    partner = off.argmax(1)
    assert bool((partner != torch.arange(n)).all())
    assert torch.allclose(off.sum(1), 1 - lam)
    assert sorted(partner.tolist()) == list(range(n))  # a permutation
    # prob: the unmixed images are unchanged with λ = 1
    torch.manual_seed(1)
    mixed, lam = BatchMix('mixup', prob=0.5)(torch.rand(64, 1, 4, 4))
    assert 10 < int((lam == 1).sum()) < 54


def test_cutmix_pastes_a_box_whose_area_is_one_minus_lambda():
    from ssdkd_mm.models import BatchMix
    torch.manual_seed(0)
    n, h, w = 8, 16, 12
    ids = torch.arange(1, n + 1, dtype=torch.float)
    x = ids.view(n, 1, 1, 1).expand(n, 2, h, w).clone()
    mixed, lam = BatchMix('cutmix', alpha=1.0)(x)
    own = (mixed == ids.view(n, 1, 1, 1)).float().mean((1, 2, 3))
    assert torch.allclose(own, lam)
    assert bool((lam > 0).all())
    for i in range(n):
        other = mixed[i, 0][mixed[i, 0] != ids[i]]
        if other.numel():  # one partner, in a rectangle
            assert other.unique().numel() == 1 and other[0] != ids[i]
            rows, cols = (mixed[i, 0] != ids[i]).nonzero(as_tuple=True)
            area = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
            assert int(area) == other.numel()


def test_batch_mix_rejects_bad_settings():
    from ssdkd_mm.models import BatchMix
    with pytest.raises(ValueError, match='mix.mode'):
        BatchMix('blend')
    with pytest.raises(ValueError, match='mix.alpha'):
        BatchMix(alpha=0)
    with pytest.raises(ValueError, match='mix.prob'):
        BatchMix(prob=0)
    x = torch.rand(1, 1, 4, 4)
    assert torch.equal(BatchMix()(x)[0], x)  # nothing to mix with
