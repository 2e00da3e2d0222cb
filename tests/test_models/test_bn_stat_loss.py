import pytest
import torch
import torch.nn as nn
from mmengine.model import revert_sync_batchnorm

from ssdkd_mm.models.losses import BNStatisticsLoss


def _bn_net():
    net = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False), nn.BatchNorm2d(2))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[[[1.]]], [[[2.]]]]))
        net[1].running_mean.copy_(torch.tensor([0.5, -1.0]))
        net[1].running_var.copy_(torch.tensor([2.0, 3.0]))
    return net.eval()


def test_bn_loss_matches_hand_computation_and_momentum():
    net = _bn_net()
    loss = BNStatisticsLoss(momentum=0.9)
    assert loss.attach(net) == 1
    x = torch.tensor([1., 2., 3., 4.]).view(1, 1, 2, 2)
    with loss.enabled():
        net(x)
    # BN input: channel 0 = x, channel 1 = 2x
    mean = torch.tensor([2.5, 5.0])
    var = torch.tensor([1.25, 5.0])  # biased variance
    expected = (torch.tensor([2., 3.]) - var).norm() + (
        torch.tensor([0.5, -1.]) - mean).norm()
    assert loss.loss().item() == pytest.approx(expected.item(), rel=1e-6)

    loss.update_momentum()  # EMA := first batch statistics
    x2 = torch.zeros(1, 1, 2, 2)
    with loss.enabled():
        net(x2)
    blended_mean, blended_var = 0.9 * mean, 0.9 * var  # batch stats are 0
    expected2 = (torch.tensor([2., 3.]) - blended_var).norm() + (
        torch.tensor([0.5, -1.]) - blended_mean).norm()
    assert loss.loss().item() == pytest.approx(expected2.item(), rel=1e-6)


def test_bn_hooks_inactive_outside_synthesis_and_detach():
    net = _bn_net()
    loss = BNStatisticsLoss()
    loss.attach(net)
    net(torch.rand(1, 1, 2, 2))  # e.g. a KD or validation forward
    with pytest.raises(RuntimeError, match='No BN statistics'):
        loss.loss()
    loss.detach()
    with loss.enabled():
        net(torch.rand(1, 1, 2, 2))
    with pytest.raises(RuntimeError):
        loss.loss()


def test_bn_hooks_fire_after_revert_sync_batchnorm():
    net = nn.Sequential(nn.Conv2d(1, 2, 1), nn.SyncBatchNorm(2)).eval()
    loss = BNStatisticsLoss()
    loss.attach(net)
    net = revert_sync_batchnorm(net)
    # The revert built new BN modules: the old hooks are gone.
    assert not loss.is_attached_to(net)
    with loss.enabled():
        net(torch.rand(2, 1, 3, 3))
    with pytest.raises(RuntimeError):
        loss.loss()
    loss.attach(net)
    assert loss.is_attached_to(net)
    with loss.enabled():
        net(torch.rand(2, 1, 3, 3))
    assert loss.loss().item() > 0


def test_bn_state_dict_round_trip():
    net = _bn_net()
    loss = BNStatisticsLoss(momentum=0.5)
    loss.attach(net)
    with loss.enabled():
        net(torch.rand(2, 1, 2, 2))
    loss.loss()
    loss.update_momentum()
    other = BNStatisticsLoss(momentum=0.5)
    other.attach(_bn_net())
    other.load_state_dict(loss.state_dict())
    assert torch.equal(other.ema[0][0], loss.ema[0][0])
    bad = BNStatisticsLoss()
    bad.attach(nn.Sequential(nn.BatchNorm2d(1), nn.BatchNorm2d(1)))
    with pytest.raises(ValueError, match='another teacher'):
        bad.load_state_dict(loss.state_dict())
