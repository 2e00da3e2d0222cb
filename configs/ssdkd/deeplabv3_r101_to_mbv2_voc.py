# SSD-KD, data-free: DeepLabV3-ResNet-101-D8 (teacher, mmseg model zoo) →
# DeepLabV3-MobileNetV2-D8 (student, from scratch) on PASCAL VOC 2012.
# Training reads NO real image; VOC val is read only to evaluate, with mmseg's
# own PascalVOCDataset, test pipeline and IoUMetric.
#
# 1. Teacher weights (mmseg metafile `deeplabv3_r101-d8_4xb4-20k_voc12aug-512x512`,
#    78.70 mIoU), saved under checkpoints/:
#    https://download.openmmlab.com/mmsegmentation/v0.5/deeplabv3/deeplabv3_r101-d8_512x512_20k_voc12aug/deeplabv3_r101-d8_512x512_20k_voc12aug_20200617_010932-8d13832f.pth
# 2. VOC 2012 val in data/VOCdevkit/VOC2012 (JPEGImages, SegmentationClass,
#    ImageSets/Segmentation/val.txt); set `val_dataloader.dataset.data_root`
#    (and test_dataloader) to put it elsewhere.
# 3. python tools/train.py configs/ssdkd/deeplabv3_r101_to_mbv2_voc.py
#    (multi-GPU: bash tools/dist_train.sh configs/ssdkd/deeplabv3_r101_to_mbv2_voc.py 8)
#
# The student starts from random weights: an ImageNet-pretrained backbone
# would bring real data back in. To opt in deliberately, set
# `model.architecture.backbone.init_cfg=dict(type='Pretrained',
# checkpoint='mmcls://mobilenet_v2')`.
_base_ = 'mmseg::deeplabv3/deeplabv3_r101-d8_4xb4-20k_voc12aug-512x512.py'
custom_imports = dict(imports=['ssdkd_mm'], allow_failed_imports=False)

# ---- what teacher, what student, what budget -------------------------------
teacher_ckpt = 'checkpoints/deeplabv3_r101-d8_512x512_20k_voc12aug_20200617_010932-8d13832f.pth'  # noqa: E501
synth_size = 256  # generator / buffer resolution (random crops of VOC: 512)
buffer_capacity = 1000  # ~10 % of the 10,582 VOC-aug training images
warmup_iters = 50  # synthesis-only rounds that seed the buffer
kd_iters = 40000  # student steps
synth_interval = 20  # one synthesis round every 20 student steps
max_iters = warmup_iters + kd_iters

data_preprocessor = None  # the algorithm carries its own (see below)

# mmseg's model zoo teacher, without ImageNet init (weights come from the
# checkpoint). SyncBN: reverted to BN by the Runner on one process; the BN
# statistics hooks are attached after that.
teacher_model = _base_.model.deepcopy()
teacher_model.update(pretrained=None)
teacher_model.backbone.update(init_cfg=None)
# Student (= configs/voc/deeplabv3_mbv2-d8_4xb4-20k_voc12aug-512x512.py, kept
# equal by a test): the same DeepLabV3 with mmseg's dilated MobileNetV2 (output stride
# 8, as mmseg's MobileNetV2 DeepLabV3 configs), no auxiliary head.
student_model = _base_.model.deepcopy()
student_model.update(pretrained=None, auxiliary_head=None)
student_model.backbone = dict(
    type='MobileNetV2',
    widen_factor=1.,
    strides=(1, 2, 2, 1, 1, 1, 1),
    dilations=(1, 1, 1, 2, 2, 4, 4),
    out_indices=(1, 2, 4, 6),
    norm_cfg=dict(type='SyncBN', requires_grad=True),
    init_cfg=None)
student_model.decode_head.in_channels = 320

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='SSDKDDistillation',
    task='seg',
    task_cfg=dict(background=0, target='relabel'),
    data_preprocessor=dict(
        _base_.data_preprocessor, type='mmseg.SegDataPreProcessor'),
    architecture=student_model,
    teacher=teacher_model,
    teacher_ckpt=teacher_ckpt,
    generator=dict(
        type='SSDKDDeepGenerator',
        nz=256,
        ngf=64,
        img_size=synth_size,
        base_size=8),
    inversion=dict(
        g_steps=2,
        synth_batch_size=32,
        lr_g=5e-3,
        lr_z=0.015,
        # 113 teacher BN layers (3x a CIFAR ResNet-34): per-layer weight /3
        bn_weight=3.0,
        oh_weight=0.5,
        adv_weight=1.0,
        bn_momentum=0.9),
    modulating=dict(gamma=2.0, diversity='inverse_freq', kappa=5.0),
    replay_buffer=dict(
        capacity=buffer_capacity,
        eviction='lowest_priority',
        # large buffers: keep them in page-locked host memory instead
        # device='cpu', pin_memory=True,
    ),
    sampler=dict(
        mode='proportional', alpha=0.6, beta=(0.4, 1.0)),
    priority=dict(tau=1.0, uses_phi=True),
    kd=dict(
        tau=1.0,
        batch_size=16,
        # zoom + colour jitter helped on Fashion-MNIST-Seg (docs); VOC values
        # are not tuned (no VOC here)
        augment=dict(
            crop_padding=16, hflip=True, scale=(0.7, 1.4),
            color_jitter=0.3)))

optim_wrapper = dict(
    _delete_=True,
    constructor='mmrazor.SeparateOptimWrapperConstructor',
    architecture=dict(
        optimizer=dict(
            type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4)),
    generator=dict(optimizer=dict(type='Adam', lr=1e-2, betas=(0.5, 0.999))))
param_scheduler = dict(
    _delete_=True,
    architecture=[
        dict(
            type='PolyLR',
            eta_min=1e-4,
            power=0.9,
            by_epoch=False,
            begin=warmup_iters,
            end=max_iters)
    ],
    generator=[
        dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0,
             end=max_iters)
    ])

train_dataloader = dict(
    _delete_=True,
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='mmrazor.SSDKDPlaceholderDataset'))
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=4000)
val_cfg = dict(_delete_=True, type='mmrazor.SSDKDValLoop', teacher_eval='first')
default_hooks = dict(
    # crash-safe: atomic checkpoints and `last_checkpoint`, no NaN checkpoint
    checkpoint=dict(
        type='mmrazor.SSDKDCheckpointHook',
        by_epoch=False,
        interval=4000,
        max_keep_ckpts=2,
        save_best='auto'))
custom_hooks = [
    dict(
        type='mmrazor.SSDKDInversionHook',
        warmup_iters=warmup_iters,
        synth_interval=synth_interval),
    dict(
        type='mmrazor.SSDKDReplayBufferHook',
        refresh_interval=2000,
        vis_interval=4000),
    dict(type='mmrazor.SSDKDPrioritySamplerHook', begin_iter=warmup_iters),
]
log_processor = dict(by_epoch=False)
model_wrapper_cfg = dict(
    type='MMSeparateDistributedDataParallel',
    broadcast_buffers=False,
    find_unused_parameters=False)
randomness = dict(seed=0, diff_rank_seed=True)
