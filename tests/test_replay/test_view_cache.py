"""The teacher-view cache: views and teacher logits memoised per buffer
entry, dropped when the entry is overwritten."""
import pytest
import torch

from ssdkd_mm.replay import TeacherViewCache


class Counting:
    """A 'teacher' (sum of pixels, and their max) that counts its calls."""

    def __init__(self):
        self.images = 0

    def __call__(self, x):
        self.images += x.shape[0]
        return torch.stack([x.sum((1, 2, 3)), x.amax((1, 2, 3))], 1)


def flip(x):
    return x.flip(3)


def test_views_are_computed_once_and_served_with_their_logits():
    torch.manual_seed(0)
    cache, teacher = TeacherViewCache(2), Counting()
    images = torch.rand(6, 1, 4, 4)
    idx = torch.tensor([0, 1, 2, 3, 4, 5])
    for _ in range(20):
        draw = idx[torch.randint(6, (4, ))]
        views, logits = cache.fetch(draw, images[draw], flip, teacher, 6)
        # the cached target is the teacher on exactly the image served
        assert torch.allclose(logits, teacher(views), atol=1e-5)
        teacher.images -= views.shape[0]  # the check above is not a miss
        assert torch.equal(views, (images[draw].flip(3) * 255).round() / 255)
    # 6 entries × 2 views: at most 12 teacher images, however many draws
    assert 0 < teacher.images <= 12 == cache.valid.numel()
    assert cache.n_served == 80 and cache.n_computed == teacher.images
    assert cache.hit_rate == pytest.approx(1 - teacher.images / 80)


def test_overwritten_slots_and_a_reset_drop_their_views():
    cache, teacher = TeacherViewCache(1), Counting()
    idx = torch.arange(3)
    old = torch.zeros(3, 1, 2, 2)
    cache.fetch(idx, old, flip, teacher, 3)
    assert teacher.images == 3
    cache.invalidate(torch.tensor([1, -1]))  # -1: a dropped sample
    new = torch.ones(3, 1, 2, 2)
    views, logits = cache.fetch(idx, new, flip, teacher, 3)
    assert teacher.images == 4  # slot 1 only
    assert views[1].sum() == 4 and views[0].sum() == 0  # 0, 2: still cached
    assert logits[1, 0] == 4
    cache.reset()
    cache.fetch(idx, new, flip, teacher, 3)
    assert teacher.images == 7


def test_the_cache_grows_with_an_unbounded_buffer():
    cache, teacher = TeacherViewCache(1), Counting()
    cache.fetch(torch.arange(2), torch.rand(2, 1, 2, 2), flip, teacher, 2)
    x = torch.rand(5, 1, 2, 2)
    views, _ = cache.fetch(torch.arange(5), x, flip, teacher, 5)
    assert cache.slots >= 5 and teacher.images == 7
    assert torch.allclose(views, x.flip(3), atol=1 / 255)


@pytest.mark.parametrize('bad', [0, -1, 1.5, True])
def test_bad_num_views(bad):
    with pytest.raises(ValueError, match='num_views'):
        TeacherViewCache(bad)
