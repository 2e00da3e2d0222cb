"""SSD-KD for segmentation: the task adapter, the deep generator, the buffer's
pixel-class labels, and training steps of the algorithm on mmseg models."""
import copy

import pytest
import torch
import torch.nn.functional as F
from conftest import build_optim
from mmengine.config import ConfigDict
from mmrazor.registry import MODELS

from ssdkd_mm.models.algorithms import SegTaskAdapter
from ssdkd_mm.models.augment import BatchAugment
from ssdkd_mm.models.generators import SSDKDDeepGenerator
from ssdkd_mm.replay import ReplayBuffer


def tiny_segmentor(backbone='resnet', num_classes=5):
    norm = dict(type='BN', requires_grad=True)
    if backbone == 'resnet':
        bb = dict(type='ResNetV1c', depth=18, stem_channels=8,
                  base_channels=8, dilations=(1, 1, 2, 4),
                  strides=(1, 2, 1, 1), norm_cfg=norm)
        in_ch = 64
    else:  # MobileNetV2, output stride 16: logits smaller than the teacher's
        bb = dict(type='MobileNetV2', widen_factor=0.25,
                  strides=(1, 2, 2, 2, 1, 1, 1),
                  dilations=(1, 1, 1, 1, 1, 2, 2), out_indices=(1, 2, 4, 6),
                  norm_cfg=norm)
        in_ch = 80
    return dict(
        _scope_='mmseg', type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[120] * 3,
                               std=[60] * 3, bgr_to_rgb=True),
        backbone=bb,
        decode_head=dict(type='ASPPHead', in_channels=in_ch, in_index=3,
                         channels=8, dilations=(1, 2), num_classes=num_classes,
                         norm_cfg=norm, align_corners=False),
        test_cfg=dict(mode='whole'))


def seg_algorithm_cfg(**overrides):
    cfg = dict(
        _scope_='mmrazor', type='SSDKDDistillation', task='seg',
        architecture=tiny_segmentor('mbv2'), teacher=tiny_segmentor(),
        data_preprocessor=dict(_scope_='mmseg', type='SegDataPreProcessor',
                               mean=[120] * 3, std=[60] * 3,
                               bgr_to_rgb=True),
        generator=dict(type='SSDKDDeepGenerator', nz=16, ngf=8, img_size=32,
                       base_size=4),
        inversion=dict(synth_batch_size=4),
        replay_buffer=dict(capacity=8),
        kd=dict(batch_size=4, tau=1.0))
    cfg.update(overrides)
    return cfg


# ---------------------------------------------------------------- adapter
def test_kl_and_ce_do_not_change_scale_with_resolution():
    torch.manual_seed(0)
    ad = SegTaskAdapter()
    s, t = torch.randn(2, 5, 8, 8), torch.randn(2, 5, 8, 8)
    up = dict(scale_factor=4, mode='nearest')
    kl_small = ad.kl(s, t, 2.0)
    kl_big = ad.kl(F.interpolate(s, **up), F.interpolate(t, **up), 2.0)
    assert torch.allclose(kl_small, kl_big, atol=1e-6)
    # and it is the pixel mean of the per-pixel KL, times τ²
    log_ps, log_pt = (F.log_softmax(v / 2.0, 1) for v in (s, t))
    hand = (log_pt.exp() * (log_pt - log_ps)).sum(1).mean((1, 2)) * 4
    assert torch.allclose(kl_small, hand, atol=1e-6)
    target = torch.randint(0, 5, (2, 8, 8))
    ce_small = ad.ce(t, target)
    ce_big = ad.ce(F.interpolate(t, **up), F.interpolate(
        target[:, None].float(), **up)[:, 0].long())
    assert torch.allclose(ce_small, ce_big, atol=1e-5)


def test_align_resizes_student_logits_and_rejects_class_mismatch():
    ad = SegTaskAdapter()
    s, t = torch.randn(2, 5, 4, 4), torch.randn(2, 5, 8, 8)
    s2, t2 = ad.align(s, t)
    assert s2.shape == t.shape and t2 is t
    with pytest.raises(ValueError, match='number of classes'):
        ad.align(torch.randn(2, 6, 8, 8), t)


def test_masked_kl_only_counts_agreeing_pixels():
    ad = SegTaskAdapter()
    t = torch.zeros(1, 2, 1, 2)
    t[0, 0, 0, 0] = 3.0  # pixel 0: class 0; pixel 1: tie -> argmax 0
    t[0, 1, 0, 1] = 3.0  # pixel 1: class 1
    s = torch.zeros(1, 2, 1, 2)
    s[0, 0, 0, :] = 1.0  # student says class 0 on both pixels
    per_pixel = (F.softmax(t, 1) * (F.log_softmax(t, 1) -
                                    F.log_softmax(s, 1))).sum(1)
    # only pixel 0 agrees; the mean is over all pixels
    assert torch.allclose(ad.masked_kl(s, t, 1.0),
                          per_pixel[:, 0, 0] / 2, atol=1e-6)


def test_relabel_targets_keep_the_layout_and_change_the_class():
    ad = SegTaskAdapter(background=0)
    logits = torch.zeros(2, 5, 2, 2)
    logits[0, 0] = 1.0
    logits[0, 2, 0, 0] = 5.0  # image 0: one pixel of class 2, rest bg
    logits[1, 0] = 1.0  # image 1: all background -> a box instead
    maps = ad.expand_targets(torch.tensor([4, 3]), logits)
    assert maps[0].tolist() == [[4, 0], [0, 0]]
    assert set(maps[1].unique().tolist()) <= {0, 3} and (maps[1] == 3).any()
    with pytest.raises(ValueError, match='target'):
        SegTaskAdapter(target='layout')


def test_expand_targets_is_background_with_one_box():
    torch.manual_seed(0)
    ad = SegTaskAdapter(background=0, box_size=(0.5, 0.5), target='box')
    classes = torch.tensor([3, 1, 4])
    maps = ad.expand_targets(classes, torch.zeros(3, 5, 8, 8))
    assert maps.shape == (3, 8, 8) and maps.dtype == torch.long
    for m, c in zip(maps, classes):
        assert set(m.unique().tolist()) == {0, int(c)}
        assert int((m == c).sum()) == 16  # a 4×4 box
    with pytest.raises(ValueError, match='background'):
        SegTaskAdapter(background=7, target='box').expand_targets(classes,
                                                    torch.zeros(3, 5, 8, 8))


def test_phi_statistics_and_pseudo_label_per_pixel():
    ad = SegTaskAdapter()
    logits = torch.full((1, 3, 1, 2), -20.0)
    logits[0, 0, 0, 0] = 20.0  # pixel 0: class 0, confident
    logits[0, 2, 0, 1] = 0.0
    logits[0, 1, 0, 1] = 0.0  # pixel 1: classes 1/2 tied at 0.5
    unc, hist = ad.phi_statistics(logits)
    assert torch.allclose(hist, torch.tensor([[0.5, 0.5, 0.0]]))
    assert torch.allclose(unc, torch.tensor([0.25]), atol=1e-6)
    assert torch.allclose(ad.pseudo_label(logits), hist)
    # with a target map: confidence of the target class at each pixel
    unc_t, hist_t = ad.phi_statistics(logits, torch.tensor([[[2, 2]]]))
    assert torch.allclose(hist_t, torch.tensor([[0.0, 0.0, 1.0]]))
    assert torch.allclose(unc_t, torch.tensor([0.75]), atol=1e-6)


# ---------------------------------------------------------------- generator
def test_deep_generator_shapes_and_range():
    g = SSDKDDeepGenerator(nz=8, ngf=4, img_size=(32, 64), base_size=(2, 4))
    x = g(torch.randn(3, 8))
    assert x.shape == (3, 3, 32, 64) and g.img_shape == (3, 32, 64)
    assert x.min() >= 0 and x.max() <= 1
    big = SSDKDDeepGenerator(nz=256, ngf=64, img_size=256, base_size=8)
    # the first layer does not grow with the resolution (vs 134 M weights
    # for a DCGAN-style (S/4)² map at 256 px)
    assert big.l1[0].weight.numel() == 256 * 512 * 64
    with pytest.raises(ValueError, match='power of two'):
        SSDKDDeepGenerator(img_size=100, base_size=8)
    clone = g.clone()
    assert all(torch.equal(a, b) for a, b in zip(g.parameters(),
                                                 clone.parameters()))


# ---------------------------------------------------------------- buffer
def test_buffer_keeps_pixel_class_histograms():
    buf = ReplayBuffer(4, (3, 8, 8), label_dim=3)
    hist = torch.tensor([[1.0, 0, 0], [0.5, 0.5, 0], [0, 0, 1.0]])
    buf.add(torch.rand(3, 3, 8, 8), torch.ones(3), hist, torch.ones(3), 0)
    assert torch.allclose(buf.class_histogram(3), torch.tensor([1.5, .5, 1]))
    with pytest.raises(ValueError, match=r'\(2, 3\)'):
        buf.add(torch.rand(2, 3, 8, 8), torch.ones(2), torch.zeros(2),
                torch.ones(2), 1)
    other = ReplayBuffer(4, (3, 8, 8), label_dim=3)
    other.load_state_dict(buf.state_dict())
    assert torch.equal(other.pseudo_label, buf.pseudo_label)
    with pytest.raises(ValueError, match='pseudo_label'):
        ReplayBuffer(4, (3, 8, 8)).load_state_dict(buf.state_dict())


# ---------------------------------------------------------------- algorithm
def test_seg_training_steps_keep_teacher_and_fill_buffer():
    torch.manual_seed(0)
    # as from a config file: mmseg reads test_cfg.mode as an attribute
    alg = MODELS.build(ConfigDict(seg_algorithm_cfg()))
    ow = build_optim(alg, lr=0.01)
    assert alg.num_classes == 5 and alg.buffer.label_dim == 5
    teacher_before = copy.deepcopy(alg.teacher.state_dict())
    student_before = copy.deepcopy(alg.student.state_dict())
    for i in range(3):
        alg.train()
        alg.synthesis_due, alg.distill_due, alg.adversarial = True, i > 0, \
            i > 0
        out = alg.train_step(None, ow)
        assert torch.isfinite(out['loss_bn']) and torch.isfinite(
            out['loss_oh'])
    assert torch.isfinite(out['loss_kd']) and out['loss_kd'] > 0
    for k, v in teacher_before.items():
        assert torch.equal(v, alg.teacher.state_dict()[k]), k
    assert any(not torch.equal(v, alg.student.state_dict()[k])
               for k, v in student_before.items() if v.is_floating_point())
    assert len(alg.buffer) == 8
    assert alg.buffer.pseudo_label.shape == (8, 5)
    assert torch.allclose(alg.buffer.pseudo_label.sum(1), torch.ones(8))
    alg.refresh_buffer()
    assert torch.isfinite(alg.buffer.priority).all()
    # predict through the algorithm's SegDataPreProcessor, as the val loop
    from mmseg.structures import SegDataSample
    from mmengine.structures import PixelData
    sample = SegDataSample(metainfo=dict(img_shape=(32, 32),
                                         ori_shape=(32, 32)))
    sample.gt_sem_seg = PixelData(data=torch.zeros(1, 32, 32).long())
    alg.eval()
    pred = alg.val_step(dict(inputs=[torch.randint(0, 255, (3, 32, 32),
                                                   dtype=torch.uint8)],
                             data_samples=[sample]))
    assert pred[0].pred_sem_seg.data.shape == (1, 32, 32)


def test_seg_task_rejects_classifier_logits(tiny_alg):
    with pytest.raises(ValueError, match="task='cls'"):
        SegTaskAdapter().logits(tiny_alg.teacher,
                                torch.zeros(2, 1, 28, 28))


# ------------------------------------------------- class-balanced KD loss
def test_weighted_kl_scales_pixels_and_checks_the_shape():
    torch.manual_seed(0)
    ad = SegTaskAdapter()
    s, t = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    plain = ad.kl(s, t, 1.0)
    assert torch.allclose(ad.kl(s, t, 1.0, torch.ones(2, 4, 4)), plain)
    half = torch.zeros(2, 4, 4)
    half[:, :2] = 2.0  # top half counted twice, bottom half not at all
    per_pixel = (F.softmax(t, 1) *
                 (F.log_softmax(t, 1) - F.log_softmax(s, 1))).sum(1)
    expected = (per_pixel * half).flatten(1).mean(1)
    assert torch.allclose(ad.kl(s, t, 1.0, half), expected)
    with pytest.raises(ValueError, match='without dim 1'):
        ad.kl(s, t, 1.0, torch.ones(2, 3, 4, 4))


def test_class_balance_weights_rare_teacher_classes_up():
    alg = MODELS.build(ConfigDict(seg_algorithm_cfg(
        kd=dict(batch_size=4, tau=1.0, class_balance=1.0),
        modulating=dict(kappa=100.0))))
    # buffer pixel-class mass: class 0 common (0.7), class 1 rare (0.05)
    hist = torch.tensor([[0.7, 0.05, 0.25, 0.0, 0.0]]).repeat(4, 1)
    alg.buffer.add(torch.rand(4, 3, 32, 32), torch.ones(4), hist,
                   torch.ones(4), 0)
    t_logits = torch.zeros(2, 5, 2, 2)
    t_logits[:, 0] = 5.0  # teacher: class 0 everywhere ...
    t_logits[0, 1, 0, 0] = 10.0  # ... but one pixel of class 1
    w = alg.kd_step.class_balance_weight(
        alg._step_inputs(), t_logits, torch.arange(2))
    assert w.shape == (2, 2, 2)
    assert torch.isclose(w.mean(), torch.tensor(1.0))
    # f(c) ∝ 1/n_c: the rare-class pixel weighs 0.7/0.05 = 14x a common one
    assert torch.isclose(w[0, 0, 0] / w[0, 0, 1], torch.tensor(14.0))
    alg.kd_step.class_balance = 0.0
    assert alg.kd_step.class_balance_weight(
        alg._step_inputs(), t_logits, torch.arange(2)) is None
    with pytest.raises(ValueError, match='class_balance'):
        MODELS.build(ConfigDict(seg_algorithm_cfg(
            kd=dict(batch_size=4, class_balance=-1.0))))


def _squares(n=4, size=32, side=16):
    """Dark images, each with one bright square (on the 8-pixel grid)."""
    x = torch.zeros(n, 3, size, size)
    for i in range(n):
        y0, x0 = 8 * (i % 2), 8 * (i // 2)
        x[i, :, y0:y0 + side, x0:x0 + side] = 1.0
    return x


def test_warp_targets_moves_maps_like_the_image():
    aug = BatchAugment(crop_padding=4, hflip=True, scale=(0.6, 1.6))
    ad = SegTaskAdapter()
    x = _squares()
    labels = (F.adaptive_avg_pool2d(x[:, :1], 4)[:, 0] > 0.5).long() * 3
    moved, unmoved = [], []
    for seed in range(20):
        view = aug.geometry(x, torch.Generator().manual_seed(seed))
        truth = (F.adaptive_avg_pool2d(view[:, :1], 4)[:, 0] > 0.5).long() * 3
        warped = ad.warp_targets(
            labels, lambda m: aug.geometry(
                m, torch.Generator().manual_seed(seed)), (32, 32), 4)
        valid = warped != ad.IGNORE_INDEX
        assert set(warped[valid].unique().tolist()) <= {0, 3}
        moved.append((warped == truth)[valid].float().mean())
        unmoved.append((labels == truth).float().mean())
    assert torch.stack(moved).mean() > 0.95
    assert torch.stack(unmoved).mean() < 0.85  # the views really differ
    # without geometry the map comes back unchanged
    assert torch.equal(ad.warp_targets(labels, lambda m: m, (32, 32), 4),
                       labels)


def test_relabel_targets_follow_every_augmented_view():
    """Regression: the 'relabel' target map was built on the first inversion
    step's augmented view and reused on the next steps' differently zoomed,
    shifted and flipped views, so it no longer lay on the garments. Now the
    round's map is built on the generated image and moved with each view."""
    torch.manual_seed(0)
    alg = MODELS.build(ConfigDict(seg_algorithm_cfg(
        inversion=dict(synth_batch_size=4, g_steps=4),
        kd=dict(batch_size=4, tau=1.0, augment=dict(
            crop_padding=4, hflip=True, scale=(0.6, 1.6))))))
    # the generator draws bright squares; the teacher calls a 8x8 block
    # class 1 when most of it is bright, else background
    squares = _squares()
    alg.generator.forward = lambda z: squares + 0 * z.sum()
    logits = alg.task.logits

    def layout_logits(model, x):
        out = logits(model, x)
        if model is alg.teacher:
            frac = F.adaptive_avg_pool2d(
                (x.mean(1, keepdim=True) > 0).float(), out.shape[2:])
            bright = frac > 0.5
            out = out + 50 * torch.cat(
                [~bright, bright, torch.zeros_like(out[:, 2:].bool())],
                1).float()
        return out

    alg.task.logits = layout_logits
    seen = []
    ce = alg.task.ce

    def recording_ce(t_logits, targets):
        seen.append((t_logits.detach().argmax(1), targets.clone()))
        return ce(t_logits, targets)

    alg.task.ce = recording_ce
    round_maps = []
    round_targets = alg.task.round_targets

    def recording_round_targets(*args):
        round_maps.append(round_targets(*args))
        return round_maps[-1]

    alg.task.round_targets = recording_round_targets
    alg.train()
    alg.synthesize(build_optim(alg, lr=0.01)['generator'])
    assert len(seen) == 4 and len(round_maps) == 1
    ignore = SegTaskAdapter.IGNORE_INDEX
    agree, unmoved, classes = [], [], None
    for pred, targets in seen:
        valid = targets != ignore
        # the map lies on this view's square ...
        agree.append(((targets != 0) == (pred != 0))[valid].float().mean())
        unmoved.append(((round_maps[0] != 0) == (pred != 0)).float().mean())
        # ... with one sampled class per image, the same through the round
        fg = [t[(t != 0) & (t != ignore)].unique() for t in targets]
        assert all(c.numel() <= 1 for c in fg)
        classes = classes or fg
        assert all(torch.equal(a, b) for a, b in zip(fg, classes)
                   if a.numel() and b.numel())
    # (the views really differ: the unmoved map agrees far less)
    assert torch.stack(agree).mean() > 0.9, agree
    assert torch.stack(unmoved).mean() < torch.stack(agree).mean() - 0.1, \
        unmoved


# ------------------------------------------- channel-wise distillation
def test_cwd_matches_its_definition_and_keeps_scale_across_resolutions():
    from ssdkd_mm.models.losses import per_sample_cwd
    torch.manual_seed(0)
    s, t = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    tau = 4.0
    expected = torch.zeros(2)
    for n in range(2):
        for c in range(3):  # each class map is a distribution over pixels
            p_t = F.softmax(t[n, c].flatten() / tau, 0)
            p_s = F.softmax(s[n, c].flatten() / tau, 0)
            expected[n] += (p_t * (p_t.log() - p_s.log())).sum() / 3
    assert torch.allclose(per_sample_cwd(s, t, tau), expected * tau**2)
    assert torch.allclose(per_sample_cwd(t, t, tau), torch.zeros(2),
                          atol=1e-6)
    # a constant added to a class map moves no probability between pixels
    assert torch.allclose(per_sample_cwd(s + torch.randn(2, 3, 1, 1), t),
                          per_sample_cwd(s, t), atol=1e-5)
    # every pixel repeated 4x: the same distributions, the same loss
    up = dict(scale_factor=2, mode='nearest')
    assert torch.allclose(
        per_sample_cwd(F.interpolate(s, **up), F.interpolate(t, **up), tau),
        per_sample_cwd(s, t, tau), atol=1e-5)
    with pytest.raises(ValueError, match='dense'):
        per_sample_cwd(torch.randn(2, 3), torch.randn(2, 3))


def test_cwd_weight_adds_the_channel_term_to_the_kd_loss():
    """kd.cwd_weight=λ: the student step's loss is the pixel KL plus
    λ·CWD on the same batch (IS weights all 1 with a uniform sampler)."""
    from ssdkd_mm.models.losses import per_sample_cwd, per_sample_kl
    losses = {}
    for lam in (0.0, 2.0):
        torch.manual_seed(0)
        alg = MODELS.build(ConfigDict(seg_algorithm_cfg(
            sampler=dict(mode='uniform'),
            kd=dict(batch_size=4, tau=1.0, cwd_weight=lam, cwd_tau=2.0,
                    augment=dict(crop_padding=0, hflip=False)))))
        alg.buffer.add(torch.rand(4, 3, 32, 32), torch.ones(4),
                       torch.full((4, 5), 0.2), torch.ones(4), 0)
        alg.train()
        alg.student.decode_head.dropout.p = 0.0  # same logits twice
        with torch.no_grad():
            x = alg.normalize(alg.buffer.get(torch.arange(4)).float())
            s, t = alg.task.align(alg.task.logits(alg.student, x),
                                  alg.task.logits(alg.teacher, x))
        alg.sampler.sample = lambda priority, n: (torch.arange(n),
                                                  torch.ones(n))
        alg.synthesis_due, alg.distill_due = False, True
        losses[lam] = alg.train_step(None, build_optim(alg, lr=0.0))['loss_kd']
    assert torch.isclose(losses[0.0], per_sample_kl(s, t, 1.0).mean(),
                         rtol=1e-4)
    assert torch.isclose(
        losses[2.0],
        (per_sample_kl(s, t, 1.0) + 2.0 * per_sample_cwd(s, t, 2.0)).mean(),
        rtol=1e-4)
