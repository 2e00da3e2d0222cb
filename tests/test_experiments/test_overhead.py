"""The plain-PyTorch reference loop of the overhead measurement does the
SSD-KD computation on copies of the algorithm's models."""
import torch

from ssdkd_mm.experiments.overhead import PlainSSDKD, _crop_flip, _kl


def test_plain_loop_synthesizes_fills_and_distils(tiny_alg):
    plain = PlainSSDKD(tiny_alg)
    # copies: the plugin's models are not touched
    assert plain.student is not tiny_alg.student
    s0 = [p.clone() for p in tiny_alg.student.parameters()]
    g0 = [p.detach().clone() for p in plain.generator.parameters()]
    for _ in range(3):  # 3 rounds of 8 into a buffer of 16: evicts
        plain.synthesize()
    assert plain.filled == 16
    assert (plain.prio[:16] > 0).all()
    assert any(not torch.equal(a, b)
               for a, b in zip(g0, plain.generator.parameters()))
    p0 = [p.detach().clone() for p in plain.student.parameters()]
    prio0 = plain.prio.clone()
    plain.distill_step()
    assert any(not torch.equal(a, b)
               for a, b in zip(p0, plain.student.parameters()))
    assert not torch.equal(prio0, plain.prio)  # sampled priorities updated
    assert all(torch.equal(a, b)
               for a, b in zip(s0, tiny_alg.student.parameters()))


def test_crop_flip_and_kl():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float).view(2, 1, 4, 4)
    assert torch.equal(_crop_flip(x, 0, False), x)
    y = _crop_flip(x, 1, True)
    assert y.shape == x.shape
    logits = torch.randn(3, 5)
    assert torch.allclose(_kl(logits, logits, 4.0), torch.zeros(3),
                          atol=1e-6)
    assert (_kl(torch.randn(3, 5), logits, 1.0) > 0).all()
