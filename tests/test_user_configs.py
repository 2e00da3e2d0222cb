"""A user's own short config: the ``ssdkd_mm::`` scope, the data-free bases,
teachers and students by ``cfg_path``, and the completion step."""
import os.path as osp
import textwrap

import pytest
from _cifar_fake import write_cifar
from mmengine.config import Config

import ssdkd_mm  # noqa: F401
from ssdkd_mm.engine.config import ConfigCompletionError, complete_config

DATASET_KEYS = ('data_preprocessor', 'train_dataloader', 'val_dataloader',
                'test_dataloader', 'val_evaluator', 'test_evaluator',
                'train_pipeline', 'test_pipeline', 'val_pipeline',
                'dataset_type', 'data_root')

CIFAR_USER_CONFIG = """\
_base_ = ['mmpretrain::_base_/datasets/cifar10_bs16.py',
          'ssdkd_mm::ssdkd/_base_/ssdkd_cls.py']
model = dict(
    teacher=dict(cfg_path='mmpretrain::resnet/resnet34_8xb16_cifar10.py'),
    architecture=dict(cfg_path='{student}'),
    teacher_ckpt={ckpt!r})
"""


def _eval_on(cfg, data_root):
    """Val and test sets from ``data_root``, read in this process."""
    for loader in ('val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = data_root
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False


def _user_config(tmp_path, text, name='user.py'):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


@pytest.mark.parametrize('base', ['ssdkd_cls.py', 'ssdkd_seg.py'])
def test_data_free_bases_load_by_scope_and_define_no_dataset_key(
        tmp_path, base):
    path = _user_config(
        tmp_path, f"_base_ = ['ssdkd_mm::ssdkd/_base_/{base}']\n")
    cfg = Config.fromfile(path)  # from a folder outside the repository
    assert cfg.model.type == 'SSDKDDistillation'
    assert cfg.runner_type == 'mmrazor.SSDKDRunner'
    assert [k for k in DATASET_KEYS if k in cfg] == []


def _readme_short_config():
    """The README's "A short config" block, as a user copies it."""
    import re
    from conftest import ROOT
    readme = open(osp.join(ROOT, 'README.md')).read()
    blocks = re.findall(r'```python\n(.*?)```', readme, re.S)
    block = next(b for b in blocks if 'ssdkd_cls.py' in b)
    return block


def test_readme_short_config_is_short_and_complete(tmp_path):
    block = _readme_short_config()
    code = [ln for ln in block.splitlines()
            if ln.strip() and not ln.lstrip().startswith('#')]
    assert len(code) <= 8, code  # the README calls it a short config
    cfg = Config.fromfile(_user_config(tmp_path, block))
    complete_config(cfg, log=False)  # complete as it stands
    assert cfg.model.replay_buffer.capacity == 5000
    assert cfg.train_dataloader.dataset.type == (
        'mmrazor.SSDKDPlaceholderDataset')


def test_user_config_next_to_a_dataset_base_has_no_duplicate_keys(tmp_path):
    path = _user_config(tmp_path, CIFAR_USER_CONFIG.format(
        student='mmpretrain::resnet/resnet18_8xb16_cifar10.py', ckpt=None))
    cfg = Config.fromfile(path)
    assert cfg.val_dataloader.dataset.type == 'CIFAR10'
    assert cfg.train_dataloader.dataset.type == 'CIFAR10'  # not yet...
    notes = complete_config(cfg, log=False)
    # ...then data-free: the CIFAR training set is never read
    ds = cfg.train_dataloader.dataset
    assert ds.type == 'mmrazor.SSDKDPlaceholderDataset'
    pre = cfg.model.data_preprocessor
    assert pre.type == 'mmpretrain.ClsDataPreprocessor'
    assert pre.mean == [125.307, 122.961, 113.8575] and pre.num_classes == 10
    assert cfg.model.generator.img_size == 32 and cfg.model.generator.nc == 3
    assert cfg.model.replay_buffer.capacity == 5000  # 10 % of 50k
    warmup, max_iters = cfg.warmup_iters, cfg.train_cfg.max_iters
    arch = cfg.param_scheduler.architecture[0]
    assert (arch.begin, arch.end, arch.T_max) == (warmup, max_iters,
                                                  max_iters - warmup)
    assert cfg.param_scheduler.generator[0].end == max_iters
    hooks = {h.type.split('.')[-1]: h for h in cfg.custom_hooks}
    assert hooks['SSDKDInversionHook'].warmup_iters == warmup
    assert hooks['SSDKDPrioritySamplerHook'].begin_iter == warmup
    assert len(notes) == 5
    # idempotent: a completed config (the work dir's copy) stays as it is
    before = cfg.to_dict()
    complete_config(cfg, log=False)
    assert cfg.to_dict() == before


def test_what_a_user_sets_is_kept_and_the_schedule_follows_max_iters(
        tmp_path):
    path = _user_config(tmp_path, CIFAR_USER_CONFIG.format(
        student='mmpretrain::resnet/resnet18_8xb16_cifar10.py', ckpt=None)
        + 'model.update(replay_buffer=dict(capacity=777))\n'
        'warmup_iters = 5\ntrain_cfg = dict(max_iters=105)\n')
    cfg = Config.fromfile(path)
    complete_config(cfg, log=False)
    assert cfg.model.replay_buffer.capacity == 777
    arch = cfg.param_scheduler.architecture[0]
    assert (arch.begin, arch.end, arch.T_max) == (5, 105, 100)


def test_the_student_gets_the_teachers_classes(tmp_path):
    # mmpretrain's ImageNet MobileNetV2 config (1000 classes) as the student
    path = _user_config(tmp_path, CIFAR_USER_CONFIG.format(
        student='mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py',
        ckpt=None))
    cfg = Config.fromfile(path)
    notes = complete_config(cfg, log=False)
    assert cfg.model.architecture.head.num_classes == 10
    assert any('1000' in n for n in notes)


@pytest.mark.parametrize('change, match', [
    ("train_dataloader = dict(dataset=dict(type='MyImages'))",
     'model.replay_buffer.capacity'),
    ("train_dataloader = dict(dataset=dict(type='MyImages', pipeline=[]))"
     '\nmodel.update(replay_buffer=dict(capacity=100))\n'
     'train_pipeline = []', 'img_size'),
    ("custom_hooks = [dict(type='mmrazor.SSDKDInversionHook', "
     'warmup_iters=7)]', 'two warm-ups'),
    ('train_cfg = dict(max_iters=10)\nwarmup_iters = 10', 'below'),
])
def test_what_cannot_be_derived_is_asked_for_by_name(tmp_path, change,
                                                      match):
    path = _user_config(tmp_path, CIFAR_USER_CONFIG.format(
        student='mmpretrain::resnet/resnet18_8xb16_cifar10.py', ckpt=None)
        + change + '\n')
    cfg = Config.fromfile(path)
    with pytest.raises(ConfigCompletionError, match=match):
        complete_config(cfg, log=False)


def test_pretrained_downloads_are_refused():
    from ssdkd_mm.models.cfg_path import resolve_model_cfg
    with pytest.raises(ValueError, match='teacher_ckpt'):
        resolve_model_cfg(dict(
            cfg_path='mmpretrain::resnet/resnet34_8xb16_cifar10.py',
            pretrained=True), 'teacher')
    with pytest.raises(FileNotFoundError, match='cfg_path'):
        resolve_model_cfg(dict(cfg_path='no/such/config.py'))


@pytest.mark.e2e
@pytest.mark.parametrize('student', [
    'mmpretrain::resnet/resnet18_8xb16_cifar10.py',
    'mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py',
])
def test_short_user_config_trains_with_the_runner_type(tmp_path, monkeypatch,
                                                       student):
    from mmengine.registry import RUNNERS
    from mmpretrain.datasets import CIFAR10
    monkeypatch.setattr(CIFAR10, '_check_integrity', lambda self: True)
    path = _user_config(tmp_path, CIFAR_USER_CONFIG.format(
        student=student, ckpt=None))
    cfg = Config.fromfile(path)
    # tiny sizes; everything else comes from the bases and the completion
    cfg.merge_from_dict({
        'model.inversion.synth_batch_size': 8, 'model.kd.batch_size': 4,
        'model.replay_buffer.capacity': 16, 'warmup_iters': 1,
        'train_cfg.max_iters': 3, 'train_cfg.val_interval': 3,
        'default_hooks.checkpoint.interval': 3,
        'work_dir': str(tmp_path / 'work')})
    cfg.custom_hooks[0].synth_interval = 1
    _eval_on(cfg, write_cifar(str(tmp_path), 'cifar10'))
    runner = RUNNERS.build(cfg)
    runner.train()
    assert runner.model.kd_steps == 2 and len(runner.model.buffer) == 16
    assert runner.model.num_classes == 10
    # the work dir's config is the completed one: it runs as it is
    dumped = Config.fromfile(osp.join(runner.work_dir,
                                      osp.basename(path)))
    assert dumped.train_dataloader.dataset.type == (
        'mmrazor.SSDKDPlaceholderDataset')
    assert dumped.model.generator.img_size == 32


SEG_USER_CONFIG = """\
_base_ = ['mmseg::_base_/datasets/pascal_voc12.py',
          'ssdkd_mm::ssdkd/_base_/ssdkd_seg.py']
model = dict(
    teacher=dict(cfg_path='mmseg::deeplabv3/'
                 'deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512.py'),
    architecture=dict(cfg_path='ssdkd_mm::voc/'
                      'deeplabv3_mbv2-d8_4xb4-20k_voc12aug-512x512.py'),
    teacher_ckpt=None,
    replay_buffer=dict(capacity=1000))
"""


def test_short_seg_user_config_completes_from_mmseg_configs(tmp_path):
    path = _user_config(tmp_path, SEG_USER_CONFIG)
    cfg = Config.fromfile(path)
    assert [k for k in DATASET_KEYS if k in cfg and k not in (
        'train_dataloader', 'val_dataloader', 'test_dataloader',
        'val_evaluator', 'test_evaluator', 'train_pipeline',
        'test_pipeline', 'dataset_type', 'data_root')] == []
    complete_config(cfg, log=False)
    pre = cfg.model.data_preprocessor
    assert pre.type == 'mmseg.SegDataPreProcessor'
    assert pre.mean == [123.675, 116.28, 103.53]
    assert cfg.model.generator.img_size == 512  # the crop
    assert cfg.model.generator.nc == 3
    assert cfg.model.teacher.pretrained is None  # nothing downloaded
    assert cfg.train_dataloader.dataset.type == (
        'mmrazor.SSDKDPlaceholderDataset')


@pytest.mark.e2e
def test_short_seg_user_config_trains(tmp_path):
    from mmengine.registry import RUNNERS
    from test_seg_configs import tiny_voc
    voc = tiny_voc(tmp_path)
    path = _user_config(tmp_path, SEG_USER_CONFIG + 'img_size = 64\n')
    cfg = Config.fromfile(path)
    cfg.merge_from_dict({
        'model.generator.ngf': 8, 'model.inversion.synth_batch_size': 2,
        'model.kd.batch_size': 2, 'model.kd.augment.crop_padding': 4,
        'model.replay_buffer.capacity': 4, 'warmup_iters': 1,
        'train_cfg.max_iters': 3, 'train_cfg.val_interval': 3,
        'default_hooks.checkpoint.interval': 3,
        'work_dir': str(tmp_path / 'work')})
    cfg.custom_hooks[0].synth_interval = 2
    _eval_on(cfg, voc)
    for loader in ('val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.pipeline[1].scale = (96, 64)
    runner = RUNNERS.build(cfg)
    runner.train()
    alg = runner.model
    assert alg.kd_steps >= 1 and alg.num_classes == 21
    assert alg.generator.img_shape == (3, 64, 64)
    assert 'teacher.mIoU' in runner.val_loop.teacher_metrics


def test_an_explicit_config_without_top_level_warmup_keeps_its_hooks():
    """Regression: a config that sets the hook's warmup_iters itself and no
    top-level warmup_iters (tests/_tiny_ssdkd.py) was refused as having
    two warm-ups."""
    cfg = Config(dict(
        model=dict(type='mmrazor.SSDKDDistillation',
                   teacher=dict(type='ImageClassifier',
                                head=dict(num_classes=10)),
                   architecture=dict(type='ImageClassifier',
                                     head=dict(num_classes=10)),
                   data_preprocessor=dict(mean=[0.], std=[1.]),
                   generator=dict(img_size=8, nc=1),
                   replay_buffer=dict(capacity=8)),
        train_dataloader=dict(dataset=dict(
            type='mmrazor.SSDKDPlaceholderDataset')),
        train_cfg=dict(max_iters=6),
        param_scheduler=dict(architecture=[dict(
            type='CosineAnnealingLR', by_epoch=False)]),
        custom_hooks=[dict(type='mmrazor.SSDKDInversionHook',
                           warmup_iters=2),
                      dict(type='mmrazor.SSDKDPrioritySamplerHook')]))
    complete_config(cfg, log=False)
    assert cfg.custom_hooks[1].begin_iter == 2
    arch = cfg.param_scheduler.architecture[0]
    assert (arch.begin, arch.end, arch.T_max) == (2, 6, 4)


def test_a_rerun_of_the_written_config_rederives_the_schedule(tmp_path):
    """The work dir's completed config, edited as the README invites: a new
    max_iters moves the schedulers' end/T_max, a new warmup_iters moves the
    hooks (it used to keep the old values, or stop with "two warm-ups")."""
    path = _user_config(tmp_path, CIFAR_USER_CONFIG.format(
        student='mmpretrain::resnet/resnet18_8xb16_cifar10.py', ckpt=None))
    cfg = Config.fromfile(path)
    complete_config(cfg, log=False)
    derived = cfg.ssdkd_derived
    assert 'param_scheduler.architecture.0.end' in derived['rederived']
    assert 'model.replay_buffer.capacity' in derived['kept']
    written = str(tmp_path / 'ssdkd_distill.py')
    cfg.dump(written)
    text = open(written).read()
    edited = Config.fromfile(written)
    edited.train_cfg.max_iters = 1000
    edited.warmup_iters = 10
    edited.dump(written)
    assert open(written).read() != text
    rerun = Config.fromfile(written)
    complete_config(rerun, log=False)
    arch = rerun.param_scheduler.architecture[0]
    assert (arch.begin, arch.end, arch.T_max) == (10, 1000, 990)
    assert rerun.param_scheduler.generator[0].end == 1000
    hooks = {h.type.split('.')[-1]: h for h in rerun.custom_hooks}
    assert hooks['SSDKDInversionHook'].warmup_iters == 10
    assert hooks['SSDKDPrioritySamplerHook'].begin_iter == 10
    assert rerun.model.replay_buffer.capacity == 5000  # kept


@pytest.mark.parametrize('base, capacity', [
    ('pascal_voc12.py', 146),  # train.txt: 1,464 images
    ('pascal_voc12_aug.py', 1058),  # the aug set: 10,582
])
def test_pascal_voc_buffer_size_follows_the_split(tmp_path, base, capacity):
    text = SEG_USER_CONFIG.replace('pascal_voc12.py', base).replace(
        ',\n    replay_buffer=dict(capacity=1000))', ')')
    assert 'capacity' not in text
    cfg = Config.fromfile(_user_config(tmp_path, text))
    complete_config(cfg, log=False)
    assert cfg.model.replay_buffer.capacity == capacity


LOCAL_CLS_BASE = """\
dataset_type = 'FashionMNIST'
data_preprocessor = dict(num_classes=10, mean=[72.9] * 3, std=[90.0] * 3)
test_pipeline = [dict(type='PackInputs')]
val_dataloader = dict(batch_size=8, num_workers=0, dataset=dict(
    type=dataset_type, data_root={root!r}, test_mode=True,
    pipeline=test_pipeline), sampler=dict(type='DefaultSampler'))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator
"""
LOCAL_SEG_BASE = """\
val_dataloader = dict(batch_size=1, num_workers=0, dataset=dict(
    type='PascalVOCDataset', data_root={root!r},
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
    ann_file='ImageSets/Segmentation/val.txt',
    pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
              dict(type='PackSegInputs')]),
    sampler=dict(type='DefaultSampler'))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
"""


@pytest.mark.parametrize('task', ['cls', 'seg'])
def test_a_local_unscoped_dataset_base_resolves_in_the_teachers_scope(
        tmp_path, task):
    """A dataset base written like mmpretrain's own (no _scope_) next to
    the ssdkd_mm:: base: its dataset, transforms and metric used to be
    looked up in the ssdkd_mm scope the val loop is built in (KeyError)."""
    from mmengine.registry import DATASETS, METRICS, DefaultScope
    if task == 'cls':
        from _fmnist_fake import write_idx_set
        base = LOCAL_CLS_BASE.format(root=write_idx_set(str(tmp_path / 'fm')))
        user = CIFAR_USER_CONFIG.format(
            student='mmpretrain::resnet/resnet18_8xb16_cifar10.py',
            ckpt=None).replace(
                "'mmpretrain::_base_/datasets/cifar10_bs16.py'",
                "'./my_data.py'") + 'img_size = 28\n' \
            'model.update(replay_buffer=dict(capacity=100))\n'
    else:
        from test_seg_configs import tiny_voc
        base = LOCAL_SEG_BASE.format(root=tiny_voc(tmp_path))
        user = SEG_USER_CONFIG.replace(
            "'mmseg::_base_/datasets/pascal_voc12.py'",
            "'./my_data.py'") + 'img_size = 64\n'
    _user_config(tmp_path, base, 'my_data.py')
    cfg = Config.fromfile(_user_config(tmp_path, user))
    complete_config(cfg, log=False)
    package = 'mmpretrain' if task == 'cls' else 'mmseg'
    assert cfg.val_dataloader.dataset._scope_ == package
    with DefaultScope.overwrite_default_scope('ssdkd_mm'):  # the val loop's
        dataset = DATASETS.build(cfg.val_dataloader.dataset)
        metric = METRICS.build(cfg.val_evaluator)
    assert len(dataset) == (20 if task == 'cls' else 2)
    assert dataset[0]['data_samples'] is not None  # the pipeline ran
    assert type(metric).__name__ == ('Accuracy' if task == 'cls' else
                                     'IoUMetric')


STUDENT_WITH_WEIGHTS = """\
_base_ = 'mmpretrain::resnet/resnet18_8xb16_cifar10.py'
model = dict(backbone=dict(init_cfg=dict(
    type='Pretrained', checkpoint={ckpt!r}, prefix='backbone')))
"""


def test_student_pretrained_download_is_dropped_and_paths_follow_the_config(
        tmp_path, monkeypatch):
    """The student's inherited ImageNet weights (a URL) were downloaded;
    a local cfg_path / checkpoint resolved against the working directory
    instead of the config's folder."""
    from ssdkd_mm.models.cfg_path import resolve_model_cfg
    (tmp_path / 'students').mkdir()
    _user_config(tmp_path, STUDENT_WITH_WEIGHTS.format(
        ckpt='https://download.openmmlab.com/some/resnet18.pth'),
        'students/remote.py')
    path = _user_config(tmp_path, CIFAR_USER_CONFIG.format(
        student='students/remote.py', ckpt=None))
    monkeypatch.chdir('/')  # not the config's folder
    cfg = Config.fromfile(path)
    notes = complete_config(cfg, log=False)
    assert cfg.model.architecture.cfg_path == str(
        tmp_path / 'students' / 'remote.py')
    student = resolve_model_cfg(cfg.model.architecture)
    assert student.backbone.init_cfg is None
    assert any('resnet18.pth' in n for n in notes)
    # set deliberately on model.architecture, with a local file next to
    # the config: kept, and resolved against the config's folder
    (tmp_path / 'weights').mkdir()
    torch_file = tmp_path / 'weights' / 's.pth'
    torch_file.write_bytes(b'')
    path = _user_config(tmp_path, CIFAR_USER_CONFIG.format(
        student='students/remote.py', ckpt=None) +
        "model.update(architecture=dict(backbone=dict(init_cfg=dict("
        "type='Pretrained', checkpoint='weights/s.pth'))))\n", 'mine.py')
    cfg = Config.fromfile(path)
    complete_config(cfg, log=False)
    init = resolve_model_cfg(cfg.model.architecture).backbone.init_cfg
    assert init.checkpoint == str(torch_file)
