"""The replay buffer's memory is checked before it is allocated: refused in
one line naming model.replay_buffer.capacity and the device when it cannot
fit, a warning when it takes a large share."""
import pytest
import torch

from ssdkd_mm.replay import memory
from ssdkd_mm.replay.buffer import ReplayBuffer
from ssdkd_mm.replay.memory import BufferMemoryError, buffer_bytes


@pytest.mark.parametrize('label_dim', [None, 5])
def test_buffer_bytes_is_what_the_buffer_allocates(label_dim):
    buf = ReplayBuffer(capacity=7, img_shape=(3, 5, 4), label_dim=label_dim)
    allocated = sum(t.nbytes for t in buf._storage.values())
    assert buffer_bytes(7, (3, 5, 4), buf._dtypes, label_dim) == allocated


def test_imagenet_tenth_is_refused_in_one_line_when_it_cannot_fit(
        monkeypatch):
    # 10 % of ImageNet at 224²: ~19 GB of uint8 images; 8 GiB free
    monkeypatch.setattr(memory, 'available_bytes', lambda device: 8 << 30)
    with pytest.raises(BufferMemoryError) as e:
        ReplayBuffer(capacity=128117, img_shape=(3, 224, 224))
    msg = str(e.value)
    assert 'model.replay_buffer.capacity=128117' in msg and 'cpu' in msg
    assert '17.97 GiB' in msg and '\n' not in msg


def test_a_large_share_warns_and_a_small_one_does_not(monkeypatch):
    need = buffer_bytes(100, (3, 32, 32), ReplayBuffer(
        capacity=1, img_shape=(3, 32, 32))._dtypes)
    monkeypatch.setattr(memory, 'available_bytes', lambda d: need + 1)
    with pytest.warns(UserWarning, match='model.replay_buffer.capacity'):
        ReplayBuffer(capacity=100, img_shape=(3, 32, 32))
    monkeypatch.setattr(memory, 'available_bytes', lambda d: need * 100)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        ReplayBuffer(capacity=100, img_shape=(3, 32, 32))


def test_moving_to_the_training_device_is_checked_there(monkeypatch):
    from ssdkd_mm.replay.prioritized import PrioritizedReplay, PriorityRule
    from ssdkd_mm.replay.sampler import PrioritySampler
    seen = []

    def free(device):
        seen.append(torch.device(device).type)
        return None if device == torch.device('cpu') else 1
    monkeypatch.setattr(memory, 'available_bytes', free)
    replay = PrioritizedReplay(ReplayBuffer(capacity=4, img_shape=(1, 2, 2)),
                               PrioritySampler(), PriorityRule())
    with pytest.raises(BufferMemoryError, match='meta'):
        replay.to_device(torch.device('meta'))
    assert seen == ['cpu', 'meta']
