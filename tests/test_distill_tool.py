"""tools/distill.py: one command from a teacher config + checkpoint and a
student config to a trained data-free student."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from _fmnist_fake import write_idx_set
from conftest import ROOT
from mmengine.config import Config

TEACHER_CFG = osp.join(ROOT, 'configs/fashion_mnist/resnet34_fmnist_teacher.py')
STUDENT_CFG = osp.join(ROOT,
                       'configs/fashion_mnist/resnet18_fmnist_student_real.py')
TOOL = osp.join(ROOT, 'tools', 'distill.py')
if osp.join(ROOT, 'tools') not in sys.path:
    sys.path.insert(0, osp.join(ROOT, 'tools'))


def _teacher_ckpt(tmp_path):
    import ssdkd_mm  # noqa: F401
    from mmpretrain.registry import MODELS
    torch.manual_seed(0)
    cfg = Config.fromfile(TEACHER_CFG)
    teacher = MODELS.build(cfg.model)
    path = str(tmp_path / 'teacher.pth')
    torch.save(dict(state_dict=teacher.state_dict()), path)
    return path


def _tiny(data_root, work_dir):
    return [
        '--work-dir', str(work_dir), '--cfg-options',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        'model.inversion.synth_batch_size=8', 'model.kd.batch_size=4',
        'model.replay_buffer.capacity=16', 'warmup_iters=1',
        'train_cfg.max_iters=3', 'train_cfg.val_interval=3',
        'default_hooks.checkpoint.interval=3', 'model.generator.ngf=8'
    ]


def test_distill_builds_the_config_from_the_two_configs(tmp_path):
    from distill import build_config, parse_args
    args = parse_args([TEACHER_CFG, str(tmp_path / 'teacher.pth'),
                       '--student', STUDENT_CFG, '--minutes', '2'])
    cfg = build_config(args)
    assert cfg.model.task == 'cls'
    assert cfg.model.teacher.cfg_path == TEACHER_CFG
    assert cfg.model.architecture.cfg_path == STUDENT_CFG
    # from the teacher's config: normalisation, image, val set, metric
    assert cfg.model.data_preprocessor.mean == [72.94]
    assert (cfg.model.generator.img_size, cfg.model.generator.nc) == (28, 1)
    assert cfg.model.replay_buffer.capacity == 6000  # 10 % of 60k
    assert cfg.val_dataloader.dataset.type == 'FashionMNIST'
    assert cfg.val_evaluator.type == 'Accuracy'
    assert cfg.train_dataloader.dataset.type == (
        'mmrazor.SSDKDPlaceholderDataset')
    budget = [h for h in cfg.custom_hooks
              if h.type == 'mmrazor.SSDKDTimeBudgetHook']
    assert budget and budget[0].budget_s == 120
    # another recipe lends its knobs (the shipped Fashion-MNIST config)
    args = parse_args([TEACHER_CFG, 'teacher.pth', '--student', STUDENT_CFG,
                       '--recipe', osp.join(
                           ROOT, 'configs/ssdkd/'
                           'ssdkd_resnet34_resnet18_fmnist.py')])
    cfg = build_config(args)
    assert cfg.model.kd.autocast == 'bfloat16'
    assert cfg.model.generator.ngf == 32


def test_distill_names_the_flag_for_what_it_cannot_derive(tmp_path):
    teacher = tmp_path / 'my_teacher.py'
    teacher.write_text(
        f"_base_ = [{TEACHER_CFG!r}]\n"
        "train_dataloader = dict(dataset=dict(_delete_=True, "
        "type='MyImages'))\nimg_size = 28\n")
    proc = subprocess.run(
        [sys.executable, TOOL, str(teacher), 'teacher.pth', '--student',
         STUDENT_CFG, '--dry-run', '--work-dir', str(tmp_path / 'w')],
        capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert 'replay_buffer.capacity' in last and '--buffer N' in last
    no_val = tmp_path / 'no_val.py'
    no_val.write_text(
        "model = dict(type='ImageClassifier', backbone=dict(type='ResNet', "
        "depth=18), neck=dict(type='GlobalAveragePooling'), "
        "head=dict(type='LinearClsHead', num_classes=10, in_channels=512))\n")
    proc = subprocess.run(
        [sys.executable, TOOL, str(no_val), 'teacher.pth', '--student',
         STUDENT_CFG, '--dry-run'],
        capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode != 0
    assert 'has no val_dataloader' in proc.stderr.strip().splitlines()[-1]


@pytest.mark.e2e
def test_distill_trains_and_writes_a_config_train_py_reruns(tmp_path):
    data_root = str(tmp_path / 'fmnist')
    write_idx_set(data_root, n_train=20, n_test=20)
    ckpt = _teacher_ckpt(tmp_path)
    work = tmp_path / 'work'
    env = dict(os.environ)
    proc = subprocess.run(
        [sys.executable, TOOL, TEACHER_CFG, ckpt, '--student', STUDENT_CFG]
        + _tiny(data_root, work), capture_output=True, text=True, cwd=ROOT,
        timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    written = work / 'ssdkd_distill.py'
    assert f'written to {written}' in proc.stdout
    assert (work / 'iter_3.pth').is_file()
    # the written config is an ordinary config: tools/train.py runs it
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'train.py'), str(written),
         '--work-dir', str(tmp_path / 'rerun')],
        capture_output=True, text=True, cwd=ROOT, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / 'rerun' / 'iter_3.pth').is_file()
