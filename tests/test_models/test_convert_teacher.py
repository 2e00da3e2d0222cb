"""tools/convert_teacher.py: community CIFAR teachers -> mmpretrain
checkpoints that load strictly and give the same logits as the networks
written from their descriptions (tests/_community_nets.py)."""
import os.path as osp
import subprocess
import sys

import pytest
import torch
from _community_nets import community_state_dict, reference_forward
from conftest import ROOT
from mmengine.runner import load_checkpoint

from ssdkd_mm.models.backbones import count_parameters
from ssdkd_mm.models.convert import (ARCHS, ConvertError, build_target,
                                     convert_checkpoint, convert_state_dict,
                                     guess_arch)

#: Published parameter counts as (num_classes, count); the sources are
#: listed in docs/paper_benchmark.md. Ours must be within 2 % of each.
PUBLISHED_PARAMS = {
    'resnet34': [(10, 21_282_122), (100, 21.33e6)],
    'resnet18': [(10, 11_173_962), (100, 11.22e6)],
    'vgg11': [(10, 9_231_114)],
    'wrn40_2': [(10, 2_248_954)],
    'wrn16_1': [(10, 175_066)],
    'wrn40_1': [(10, 563_930)],
    'wrn16_2': [(10, 691_674), (100, 0.70e6)],
}


@pytest.mark.parametrize('arch', list(ARCHS))
def test_parameter_counts_match_the_published_ones(arch):
    assert set(PUBLISHED_PARAMS) == set(ARCHS)
    for num_classes, published in PUBLISHED_PARAMS[arch]:
        n = count_parameters(build_target(arch, num_classes))
        assert abs(n - published) / published < 0.02, (arch, num_classes, n)


@pytest.mark.parametrize('arch,num_classes', [(a, 10) for a in ARCHS] +
                         [('wrn40_2', 100), ('resnet34', 100)])
def test_converted_teacher_gives_the_reference_logits(tmp_path, arch,
                                                      num_classes):
    sd = community_state_dict(arch, num_classes, seed=1)
    assert guess_arch(sd) == arch
    src = str(tmp_path / f'cifar_{arch}.pth')
    # the community files: {'state_dict': ...}, here saved from
    # DataParallel (module. prefix)
    torch.save({'state_dict': {'module.' + k: v for k, v in sd.items()},
                'best_acc1': 0.9}, src)
    dst = str(tmp_path / 'converted.pth')
    meta = convert_checkpoint(src, dst, arch)
    assert meta['num_classes'] == num_classes
    model = build_target(arch, num_classes).eval()
    load_checkpoint(model, dst, strict=True, logger='silent')
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ours = model(x, mode='tensor')
        ref = reference_forward(arch, sd, x)
    assert ours.shape == (3, num_classes)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4)
    # a converted (mmpretrain-layout) file converts to itself
    again, n = convert_state_dict(torch.load(dst)['state_dict'], arch)
    assert n == num_classes and list(again) == list(model.state_dict())


def test_wrong_arch_names_the_right_one():
    sd = community_state_dict('wrn16_2')
    with pytest.raises(ConvertError, match='--arch wrn16_2'):
        convert_state_dict(sd, 'wrn40_2')
    with pytest.raises(ConvertError, match='--arch resnet18'):
        convert_state_dict(community_state_dict('resnet18'), 'resnet34')


def test_incomplete_checkpoint_lists_what_is_missing():
    sd = community_state_dict('vgg11')
    del sd['block3.0.weight']
    with pytest.raises(ConvertError, match='1 weights missing.*'
                       r'backbone\.stages\.3\.0\.conv\.weight'):
        convert_state_dict(sd, 'vgg11')
    sd = community_state_dict('wrn16_1')
    sd['fc.weight'] = sd['fc.weight'][:, :32]
    with pytest.raises(ConvertError, match='shapes differ'):
        convert_state_dict(sd, 'wrn16_1')


def test_unreadable_file_is_a_clear_error(tmp_path):
    bad = tmp_path / 'bad.pth'
    bad.write_bytes(b'not a checkpoint')
    with pytest.raises(ConvertError, match='not a readable PyTorch'):
        convert_checkpoint(str(bad), str(tmp_path / 'out.pth'), 'wrn16_1')
    torch.save({'epoch': 3}, str(bad))
    with pytest.raises(ConvertError, match='no state dict'):
        convert_checkpoint(str(bad), str(tmp_path / 'out.pth'), 'wrn16_1')
    assert not (tmp_path / 'out.pth').exists()


def test_cli(tmp_path):
    src = str(tmp_path / 'cifar10_wrn16_1.pth')
    torch.save({'state_dict': community_state_dict('wrn16_1')}, src)
    tool = osp.join(ROOT, 'tools/convert_teacher.py')
    ok = subprocess.run(
        [sys.executable, tool, src, str(tmp_path / 'a.pth'), '--arch',
         'wrn16_1'], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert '10 classes' in ok.stdout and (tmp_path / 'a.pth').exists()
    bad = subprocess.run(
        [sys.executable, tool, src, str(tmp_path / 'b.pth'), '--arch',
         'wrn40_2'], capture_output=True, text=True)
    assert bad.returncode == 1
    assert '--arch wrn16_1' in bad.stderr and 'Traceback' not in bad.stderr
    assert not (tmp_path / 'b.pth').exists()


@pytest.mark.parametrize('arch', ['wrn16_2', 'vgg11'])
def test_new_backbones_start_from_he_init(arch):
    import math
    backbone = build_target(arch, 10).backbone
    backbone.init_weights()
    convs = [m for m in backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    bns = [m for m in backbone.modules()
           if isinstance(m, torch.nn.BatchNorm2d)]
    big = max(convs, key=lambda m: m.weight.numel())
    fan_out = big.out_channels * big.kernel_size[0] * big.kernel_size[1]
    assert big.weight.std().item() == pytest.approx(
        math.sqrt(2 / fan_out), rel=0.05)
    assert all(m.bias is None or not m.bias.any() for m in convs)
    assert all((m.weight == 1).all() and not m.bias.any() for m in bns)
