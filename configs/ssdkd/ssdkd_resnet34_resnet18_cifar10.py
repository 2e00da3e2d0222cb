# SSD-KD, data-free: ResNet-34 → ResNet-18 on CIFAR-10 (the paper's first
# pair), inheriting mmpretrain's CIFAR-10 dataset (val/test only: training
# reads no image) and its CIFAR ResNet model config.
#
# Teacher: mmpretrain's ResNet-34 CIFAR-10 checkpoint (metafile top-1 95.34),
# downloaded once by the user on a machine with network:
#   resnet34_b16x8_cifar10_20210528-a8aa36a6.pth
#   (https://download.openmmlab.com/mmclassification/v0/resnet/
#    resnet34_b16x8_cifar10_20210528-a8aa36a6.pth)
# CIFAR-10 itself goes to data/cifar10 (mmpretrain's CIFAR10 layout).
#
#   python tools/train.py configs/ssdkd/ssdkd_resnet34_resnet18_cifar10.py
_base_ = [
    'mmpretrain::_base_/datasets/cifar10_bs16.py',
    'mmpretrain::_base_/models/resnet34_cifar.py',
    './_base_/ssdkd_runtime.py',
]

# ---- what teacher, what student, what budget -------------------------------
teacher_ckpt = 'checkpoints/resnet34_b16x8_cifar10_20210528-a8aa36a6.pth'
buffer_capacity = 5000  # 10 % of the 50k CIFAR training images
warmup_iters = 20  # synthesis-only rounds (Fast-DFKD's warm-up epochs)
synth_interval = 100  # student steps per synthesis round ("kd_steps")
kd_iters = 200 * synth_interval  # 1/4 of Fast-DFKD's 400 steps per round
max_iters = warmup_iters + kd_iters

teacher_model = _base_.model.deepcopy()  # ResNet-34, 10 classes
student_model = _base_.model.deepcopy()
student_model.backbone.depth = 18

data_preprocessor = None  # the algorithm carries its own (see below)
model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='SSDKDDistillation',
    task='cls',
    data_preprocessor=dict(
        _base_.data_preprocessor, type='mmpretrain.ClsDataPreprocessor'),
    architecture=student_model,
    teacher=teacher_model,
    teacher_ckpt=teacher_ckpt,
    generator=dict(type='SSDKDGenerator', nz=256, ngf=64, img_size=32, nc=3),
    inversion=dict(
        g_steps=2,
        synth_batch_size=256,
        lr_g=5e-3,
        lr_z=0.015,
        bn_weight=10.0,
        oh_weight=0.5,
        adv_weight=1.33,
        bn_momentum=0.9),
    modulating=dict(gamma=2.0, diversity='inverse_freq', kappa=5.0),
    replay_buffer=dict(capacity=buffer_capacity,
                       eviction='lowest_priority'),
    sampler=dict(
        mode='proportional', alpha=0.6, beta=(0.4, 1.0)),
    priority=dict(tau=1.0, uses_phi=True),
    kd=dict(
        tau=20.0, batch_size=256, augment=dict(crop_padding=4, hflip=True)))

optim_wrapper = dict(
    constructor='mmrazor.SeparateOptimWrapperConstructor',
    architecture=dict(
        optimizer=dict(type='SGD', lr=0.2, momentum=0.9, weight_decay=1e-4)),
    # Meta-optimizer of the generator: lr = lr_g × g_steps (Fast-DFKD).
    generator=dict(optimizer=dict(type='Adam', lr=1e-2, betas=(0.5, 0.999))))
param_scheduler = dict(
    architecture=[
        dict(
            type='CosineAnnealingLR',
            by_epoch=False,
            begin=warmup_iters,
            end=max_iters,
            T_max=kd_iters,
            eta_min=2e-4)
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
val_dataloader = dict(batch_size=256)
test_dataloader = dict(batch_size=256)
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=2000)

custom_hooks = [
    dict(
        type='mmrazor.SSDKDInversionHook',
        warmup_iters=warmup_iters,
        synth_interval=synth_interval),
    dict(
        type='mmrazor.SSDKDReplayBufferHook',
        refresh_interval=synth_interval * 10,
        vis_interval=2000),
    dict(type='mmrazor.SSDKDPrioritySamplerHook', begin_iter=warmup_iters),
]
default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(interval=2000, max_keep_ckpts=3))
