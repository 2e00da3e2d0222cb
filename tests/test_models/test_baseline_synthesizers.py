"""DeepInversion, CMI and DFQ as self-contained synthesizers on tiny models:
published defaults, shapes and ranges, the loss going down, the models'
parameters untouched, state round trips."""
import inspect

import pytest
import torch
import torch.nn as nn

from ssdkd_mm.experiments import recipes
from ssdkd_mm.models.generators import SSDKDGenerator
from ssdkd_mm.models.synthesis.cmi import CMISynthesizer, FeatureBank
from ssdkd_mm.models.synthesis.deepinversion import DeepInversionSynthesizer
from ssdkd_mm.models.synthesis.dfq import DFQSynthesizer
from ssdkd_mm.models.synthesis.losses import (BNStatistics, adversarial,
                                              js_divergence)


def tiny_net(seed, n_cls=4):
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, n_cls))
    # a "trained" teacher: running statistics away from the defaults
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def _defaults(cls):
    return {k: p.default for k, p in inspect.signature(
        cls.__init__).parameters.items()
        if p.default is not inspect.Parameter.empty}


def _early_late(losses, k=5):
    return (sum(losses[:k]) / k, sum(losses[-k:]) / k)


def test_published_defaults():
    d = _defaults(DeepInversionSynthesizer)
    pub = recipes.DEEPINV
    for key in ('iterations', 'lr_g', 'bn', 'oh', 'adv'):
        assert d[key] == pub[key], key
    assert (d['tv_l1'], d['tv_l2'], d['l2']) == (pub['tv'], pub['tv'],
                                                 pub['l2']) == (0, 0, 0)
    # the harness's optimiser, jitter (an eighth of the side), student term
    assert d['betas'] == (0.5, 0.99) and d['student_bn'] == 1e-3
    assert DeepInversionSynthesizer(10).jitter == 4  # (3, 32, 32)
    c = _defaults(CMISynthesizer)
    for key in ('iterations', 'lr_g', 'bn', 'oh', 'adv', 'cr', 'cr_T', 'nz',
                'bank_size', 'n_neg', 'head_dim'):
        assert c[key] == recipes.CMI[key], key
    q = _defaults(DFQSynthesizer)
    for key in ('nz', 'lr_g', 'iterations', 'bn', 'oh', 'adv'):
        assert q[key] == recipes.DFQ[key], key


def test_bn_statistics_vanish_when_the_batch_matches():
    net = tiny_net(0)
    x = torch.randn(16, 3, 8, 8)
    stats = BNStatistics(net)
    net(x)
    assert float(stats.loss()) > 0.1
    # make every BN's running statistics those of this batch
    inputs = {}
    hooks = [m.register_forward_hook(
        lambda m, i, o: inputs.__setitem__(m, i[0].detach()))
        for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    for _ in range(2):  # the second layer sees the first's new output
        net(x)
        for m, a in inputs.items():
            m.running_mean.copy_(a.mean((0, 2, 3)))
            m.running_var.copy_(a.transpose(0, 1).flatten(1).var(
                1, unbiased=False))
    for h in hooks:
        h.remove()
    net(x)
    assert float(stats.loss()) < 1e-4
    stats.remove()
    assert all(not m._forward_hooks for m in net.modules())


def test_adversarial_only_counts_agreeing_images():
    t = torch.tensor([[5.0, 0.0], [5.0, 0.0]])
    s = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # agrees, disagrees
    full = adversarial(s, t)
    assert float(full) < 0
    assert float(adversarial(s[:1], t[:1])) == pytest.approx(2 * float(full))


def test_js_divergence():
    a = torch.tensor([[2.0, 0.0, -1.0]])
    assert float(js_divergence(a, a)) == pytest.approx(0.0, abs=1e-7)
    b = torch.tensor([[-1.0, 0.0, 2.0]])
    assert float(js_divergence(a, b)) > 0
    assert float(js_divergence(a, b)) == pytest.approx(
        float(js_divergence(b, a)))


def test_deepinversion_synthesizes_and_lowers_its_loss():
    teacher, student = tiny_net(0), tiny_net(1)
    syn = DeepInversionSynthesizer(num_classes=4, img_shape=(3, 8, 8),
                                   iterations=40, lr_g=0.1, jitter=1)
    torch.manual_seed(0)
    x, y = syn.invert(teacher, student, batch_size=6)
    assert x.shape == (6, 3, 8, 8) and y.shape == (6, )
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    early, late = _early_late(syn.last_losses)
    assert late < early
    assert len(syn.last_losses) == 40
    assert all(p.grad is None for p in teacher.parameters())
    assert all(p.grad is None for p in student.parameters())
    assert not any(m._forward_hooks for m in teacher.modules())
    # given targets are kept; the round count persists
    _, y2 = syn.invert(teacher, None, targets=torch.tensor([1, 2]))
    assert y2.tolist() == [1, 2]
    other = DeepInversionSynthesizer(num_classes=4)
    other.load_state_dict(syn.state_dict())
    assert other.rounds == 2
    fast = DeepInversionSynthesizer(4, **{
        k: recipes.DEEPINV_FAST[k] for k in ('iterations', 'lr_g')})
    assert (fast.iterations, fast.lr_g) == (10, 1.0)


def _gen():
    torch.manual_seed(3)
    return SSDKDGenerator(nz=16, ngf=8, img_size=8, nc=3)


def test_cmi_synthesizes_banks_features_and_lowers_its_loss():
    teacher, student = tiny_net(0), tiny_net(1)
    syn = CMISynthesizer(_gen(), num_classes=4, nz=16, iterations=25,
                         lr_g=1e-2, bank_size=64, n_neg=16, head_dim=8)
    torch.manual_seed(0)
    x, y = syn.invert(teacher, student, batch_size=6)
    assert x.shape == (6, 3, 8, 8) and y.shape == (6, )
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    early, late = _early_late(syn.last_losses)
    assert late < early
    # features of both views (2 × the 16 BN channels) of 6 images banked
    assert len(syn.bank) == 6 and syn.bank.data.shape == (64, 32)
    syn.invert(teacher, student, batch_size=6)  # with negatives now
    assert len(syn.bank) == 12
    assert all(p.grad is None for p in teacher.parameters())
    other = CMISynthesizer(_gen(), num_classes=4, nz=16, bank_size=64,
                           head_dim=8)
    other.load_state_dict(syn.state_dict())
    assert other.rounds == 2 and len(other.bank) == 12
    assert torch.equal(other.bank.data, syn.bank.data)
    for a, b in zip(other.head.parameters(), syn.head.parameters()):
        assert torch.equal(a, b)


def test_feature_bank_is_a_ring():
    bank = FeatureBank(4, 2)
    bank.add(torch.ones(3, 2))
    bank.add(2 * torch.ones(3, 2))
    assert len(bank) == 4 and bank.ptr == 2
    assert bank.data[:, 0].tolist() == [2, 2, 1, 2]  # 3 → 3, 0, 1
    assert bank.sample(10).shape == (4, 2)


def test_dfq_trains_its_generator_and_lowers_its_loss():
    teacher = tiny_net(0)
    syn = DFQSynthesizer(_gen(), nz=16, iterations=30, lr_g=1e-2, adv=0.0)
    torch.manual_seed(0)
    before = [p.detach().clone() for p in syn.generator.parameters()]
    x = syn.invert(teacher, None, batch_size=8)
    assert x.shape == (8, 3, 8, 8)
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    early, late = _early_late(syn.last_losses)
    assert late < early
    assert any(not torch.equal(a, b) for a, b in zip(
        before, syn.generator.parameters()))
    # the adversarial term is there with a student
    syn_adv = DFQSynthesizer(_gen(), nz=16, iterations=1)
    syn_adv.invert(teacher, tiny_net(1), batch_size=4)
    other = DFQSynthesizer(_gen(), nz=16)
    other.load_state_dict(syn.state_dict())
    assert other.rounds == 1
    for a, b in zip(other.generator.parameters(),
                    syn.generator.parameters()):
        assert torch.equal(a, b)


def test_baseline_recipes_build_their_synthesizers():
    """Each baseline names a synthesizer whose arguments take its published
    values."""
    classes = {'DeepInversionSynthesizer': DeepInversionSynthesizer,
               'CMISynthesizer': CMISynthesizer,
               'DFQSynthesizer': DFQSynthesizer}
    assert set(recipes.BASELINES) == {'deepinv', 'deepinv-fast', 'cmi',
                                      'dfq'}
    for name, r in recipes.BASELINES.items():
        klass = classes[r['type']]
        args = set(inspect.signature(klass.__init__).parameters)
        assert set(r['kwargs']) <= args, name
        if klass is DeepInversionSynthesizer:
            syn = klass(num_classes=10, **r['kwargs'])
        else:
            syn = klass(_gen(), **({'num_classes': 10}
                                   if klass is CMISynthesizer else {}),
                        **dict(r['kwargs'], nz=16))
        assert syn.iterations == r['kwargs']['iterations']
    assert recipes.BASELINES['deepinv']['kwargs']['iterations'] == 2000
    assert recipes.BASELINES['deepinv-fast']['student'][
        'steps_per_round'] == 200
    assert recipes.BASELINES['cmi']['kwargs']['iterations'] == 500
    assert recipes.BASELINES['dfq']['student']['pool'] is False
