# Copyright (c) ssdkd_mm contributors. All rights reserved.
import pytest
import torch

from ssdkd_mm.replay.buffer import ReplayBuffer

IMG = (1, 2, 2)


def _imgs(values):
    """One constant image per value (values are multiples of 1/255)."""
    v = torch.tensor(values, dtype=torch.float32) / 255
    return v.view(-1, 1, 1, 1).expand(-1, *IMG).contiguous()


def _add(buf, prios, step, base=0):
    """Add len(prios) entries whose image/phi/label encode base + k."""
    n = len(prios)
    ids = list(range(base, base + n))
    return buf.add(
        _imgs(ids),
        phi=torch.tensor(ids, dtype=torch.float32) / 10,
        pseudo_label=torch.tensor(ids),
        priority=torch.tensor(prios, dtype=torch.float32),
        step=step)


def test_capacity_never_exceeded():
    buf = ReplayBuffer(4, IMG)
    for step, n in enumerate([3, 3, 2, 4, 1]):
        _add(buf, [1.0] * n, step)
        assert len(buf) <= 4
    assert len(buf) == buf.size == 4 and buf.is_full
    assert buf.allocated == 4
    assert buf.n_inserted_total == 13


def test_lowest_priority_eviction_replaces_all_fields():
    buf = ReplayBuffer(4, IMG, eviction='lowest_priority')
    assert _add(buf, [0.5, 0.1, 0.75, 0.1], step=0).tolist() == [0, 1, 2, 3]
    buf.mark_sampled(torch.tensor([1, 3, 3]))
    # Ties on π and inserted_at: lower slot first.
    slots = _add(buf, [5.0, 6.0], step=7, base=100)
    assert slots.tolist() == [1, 3]
    assert buf.priority.tolist() == [0.5, 5.0, 0.75, 6.0]
    assert buf.pseudo_label.tolist() == [0, 100, 2, 101]
    assert torch.allclose(buf.phi, torch.tensor([0.0, 10.0, 0.2, 10.1]))
    assert buf.inserted_at.tolist() == [0, 7, 0, 7]
    assert buf.times_sampled.tolist() == [0, 0, 0, 0]
    assert buf.images[:, 0, 0, 0].tolist() == [0, 100, 2, 101]
    # Next victim is the lowest remaining π (slot 0).
    assert _add(buf, [2.0], step=8, base=50).tolist() == [0]
    assert buf.pseudo_label.tolist() == [50, 100, 2, 101]


def test_lowest_priority_tie_prefers_oldest_insertion():
    buf = ReplayBuffer(2, IMG)
    _add(buf, [1.0, 1.0], step=0)
    assert _add(buf, [1.0], step=1, base=10).tolist() == [0]
    # Slot 0 (step 1) and slot 1 (step 0) tie on π: the older slot 1 goes.
    assert _add(buf, [9.0], step=2, base=20).tolist() == [1]
    assert buf.pseudo_label.tolist() == [10, 20]


def test_fill_free_slots_before_evicting():
    buf = ReplayBuffer(3, IMG)
    _add(buf, [1.0, 2.0], step=0)
    slots = _add(buf, [3.0, 4.0], step=1, base=10)
    # Free slot 2 first, then the lowest-π existing entry (slot 0).
    assert slots.tolist() == [2, 0]
    assert buf.pseudo_label.tolist() == [11, 1, 10]


def test_fifo_eviction_order():
    buf = ReplayBuffer(3, IMG, eviction='fifo')
    assert _add(buf, [9.0, 9.0], step=0, base=0).tolist() == [0, 1]
    assert _add(buf, [0.1, 0.1], step=1, base=2).tolist() == [2, 0]
    assert _add(buf, [0.1], step=2, base=4).tolist() == [1]
    # Oldest now: id 2 (slot 2), then id 3 (slot 0), priorities ignored.
    assert _add(buf, [0.1, 0.1], step=3, base=5).tolist() == [2, 0]
    assert buf.pseudo_label.tolist() == [6, 4, 5]
    assert buf.insert_order.tolist() == [6, 4, 5]


def test_too_many_new_samples_keep_highest_priority():
    buf = ReplayBuffer(2, IMG)
    _add(buf, [0.5], step=0, base=90)
    slots = _add(buf, [1.0, 4.0, 2.0, 3.0], step=1)
    # Kept: inputs 1 and 3; input 1 takes the free slot 1, input 3 evicts 0.
    assert slots.tolist() == [-1, 1, -1, 0]
    assert buf.pseudo_label.tolist() == [3, 1]
    assert buf.n_inserted_total == 3


def test_uint8_round_trip():
    shape = (1, 16, 16)
    buf = ReplayBuffer(3, shape)
    exact = (torch.arange(256, dtype=torch.float32) / 255).view(1, *shape)
    rand = torch.rand((1, *shape), generator=torch.Generator().manual_seed(0))
    clamp = torch.full((1, *shape), 1.5)
    clamp[..., 0, :] = -0.5
    buf.add(
        torch.cat([exact, rand, clamp]),
        torch.zeros(3),
        torch.zeros(3, dtype=torch.long),
        torch.ones(3),
        step=0)
    assert buf.images.dtype == torch.uint8
    out = buf.get(torch.tensor([0, 1, 2]))
    assert out.dtype == torch.float32 and out.shape == (3, *shape)
    assert torch.equal(out[0], exact[0])
    assert (out[1] - rand[0]).abs().max().item() <= 0.5 / 255 + 1e-7
    assert out[2, 0, 0].eq(0).all() and out[2, 0, 1:].eq(1).all()


def test_state_dict_round_trip_and_identical_future():
    a = ReplayBuffer(3, IMG, eviction='fifo')
    _add(a, [1.0, 2.0], step=0)
    _add(a, [3.0, 0.5], step=4, base=10)
    a.mark_sampled(torch.tensor([2, 2, 0]))
    state = a.state_dict()
    assert state['size'] == 3 and state['n_inserted_total'] == 4
    assert state['img_shape'] == IMG and state['eviction'] == 'fifo'
    assert all(state[k].device.type == 'cpu' for k in ('images', 'phi'))

    b = ReplayBuffer(3, IMG, eviction='fifo')
    b.load_state_dict(state)
    names = ('images', 'phi', 'pseudo_label', 'priority', 'inserted_at',
             'times_sampled', 'insert_order')
    for name in names:
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert (len(b), b.n_inserted_total) == (3, 4)
    # The snapshot is a copy, not a view of live storage.
    a.update_priority(torch.tensor([0]), torch.tensor([99.0]))
    assert state['priority'][0].item() != 99.0
    b.update_priority(torch.tensor([0]), torch.tensor([99.0]))

    sa = _add(a, [7.0, 8.0], step=9, base=20)
    sb = _add(b, [7.0, 8.0], step=9, base=20)
    assert sa.tolist() == sb.tolist() == [1, 2]
    for name in names:
        assert torch.equal(getattr(a, name), getattr(b, name)), name


def test_load_rejects_mismatched_shape_and_capacity():
    state = ReplayBuffer(3, IMG).state_dict()
    with pytest.raises(ValueError, match=r'img_shape \(1, 2, 2\).*\(3, 2, 2\)'):
        ReplayBuffer(3, (3, 2, 2)).load_state_dict(state)
    with pytest.raises(ValueError, match='capacity 3 .* capacity 5'):
        ReplayBuffer(5, IMG).load_state_dict(state)
    # An unbounded buffer accepts any saved capacity.
    ReplayBuffer(5, IMG, unbounded=True).load_state_dict(state)


def test_mark_sampled_counts_repeats():
    buf = ReplayBuffer(4, IMG)
    _add(buf, [1.0, 1.0, 1.0], step=0)
    buf.mark_sampled(torch.tensor([0, 0, 2, 0]))
    buf.mark_sampled(torch.tensor([2]))
    assert buf.times_sampled.tolist() == [3, 0, 2]


def test_update_entries():
    buf = ReplayBuffer(4, IMG)
    _add(buf, [1.0, 1.0, 1.0], step=0)
    buf.update_entries(
        torch.tensor([2, 0]),
        phi=torch.tensor([0.25, 0.75]),
        pseudo_label=torch.tensor([7, 8]),
        priority=torch.tensor([3.0, 4.0]))
    assert torch.allclose(buf.phi, torch.tensor([0.75, 0.1, 0.25]))
    assert buf.pseudo_label.tolist() == [8, 1, 7]
    assert buf.priority.tolist() == [4.0, 1.0, 3.0]
    with pytest.raises(ValueError, match='priority'):
        buf.update_entries(torch.tensor([0, 1]), priority=torch.ones(3))


def test_class_histogram():
    buf = ReplayBuffer(8, IMG)
    buf.add(_imgs([0] * 5), torch.zeros(5), torch.tensor([2, 0, 2, 1, 2]),
            torch.ones(5), step=0)
    hist = buf.class_histogram(4)
    assert hist.dtype == torch.float32
    assert hist.tolist() == [1.0, 1.0, 3.0, 0.0]
    assert ReplayBuffer(2, IMG).class_histogram(3).tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match='num_classes'):
        buf.class_histogram(2)


def test_unbounded_grows_and_never_evicts():
    buf = ReplayBuffer(2, IMG, unbounded=True)
    assert _add(buf, [1.0, 1.0, 1.0], step=0).tolist() == [0, 1, 2]
    assert buf.allocated == 4  # doubled from 2
    assert _add(buf, [0.0, 0.0], step=1, base=3).tolist() == [3, 4]
    assert buf.allocated == 8  # doubled from 4
    assert len(buf) == 5 and not buf.is_full
    assert buf.pseudo_label.tolist() == [0, 1, 2, 3, 4]
    assert buf.images[:, 0, 0, 0].tolist() == [0, 1, 2, 3, 4]
    assert buf.n_inserted_total == 5


def test_add_validates_shapes():
    buf = ReplayBuffer(4, IMG)
    with pytest.raises(ValueError, match=r"\('n', 1, 2, 2\).*\(2, 1, 3, 2\)"):
        buf.add(torch.zeros(2, 1, 3, 2), torch.zeros(2),
                torch.zeros(2, dtype=torch.long), torch.ones(2), step=0)
    with pytest.raises(ValueError, match='phi'):
        buf.add(torch.zeros(2, *IMG), torch.zeros(3),
                torch.zeros(2, dtype=torch.long), torch.ones(2), step=0)
    assert len(buf) == 0


def test_constructor_validates():
    with pytest.raises(ValueError, match='eviction'):
        ReplayBuffer(4, IMG, eviction='random')
    with pytest.raises(ValueError, match='capacity'):
        ReplayBuffer(0, IMG)
