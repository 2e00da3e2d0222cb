# SSD-KD for an mmpretrain classifier: everything the method needs and no key
# an OpenMMLab dataset base defines (data_preprocessor, pipelines, loaders,
# evaluators). Inherit it next to a dataset base and name teacher, student
# and checkpoint:
#
#   _base_ = ['mmpretrain::_base_/datasets/cifar10_bs16.py',
#             'ssdkd_mm::ssdkd/_base_/ssdkd_cls.py']
#   model = dict(
#       teacher=dict(cfg_path='mmpretrain::resnet/resnet34_8xb16_cifar10.py'),
#       architecture=dict(
#           cfg_path='mmpretrain::resnet/resnet18_8xb16_cifar10.py'),
#       teacher_ckpt='checkpoints/resnet34_cifar10.pth')
#
# SSDKDRunner completes the rest at start-up and logs what it set (see
# ssdkd_mm/engine/config.py): the data-free training loader, the teacher's
# normalisation, the generator's image size, the buffer (10 % of the training
# set when the dataset type tells its size, else set
# model.replay_buffer.capacity) and the schedules from train_cfg.max_iters
# and warmup_iters. The knobs and their provenance: README, "Knobs".
_base_ = ['./ssdkd_runtime.py']
runner_type = 'mmrazor.SSDKDRunner'

warmup_iters = 20  # synthesis-only rounds that seed the buffer
model = dict(
    _scope_='mmrazor',
    type='SSDKDDistillation',
    task='cls',
    generator=dict(type='SSDKDGenerator', nz=256, ngf=64),
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
    replay_buffer=dict(eviction='lowest_priority'),
    sampler=dict(mode='proportional', alpha=0.6, beta=(0.4, 1.0)),
    priority=dict(tau=1.0, uses_phi=True),
    kd=dict(
        tau=20.0, batch_size=256, augment=dict(crop_padding=4, hflip=True)))

optim_wrapper = dict(
    constructor='mmrazor.SeparateOptimWrapperConstructor',
    architecture=dict(
        optimizer=dict(type='SGD', lr=0.2, momentum=0.9, weight_decay=1e-4)),
    # Meta-optimizer of the generator: lr = lr_g × g_steps (Fast-DFKD).
    generator=dict(optimizer=dict(type='Adam', lr=1e-2, betas=(0.5, 0.999))))
# begin / end / T_max follow warmup_iters and train_cfg.max_iters
param_scheduler = dict(
    architecture=[
        dict(type='CosineAnnealingLR', by_epoch=False, eta_min=2e-4)
    ],
    generator=[dict(type='ConstantLR', factor=1.0, by_epoch=False)])

train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=warmup_iters + 20000,
    val_interval=2000)
custom_hooks = [
    # warmup_iters / begin_iter follow the top-level warmup_iters
    dict(type='mmrazor.SSDKDInversionHook', synth_interval=100),
    dict(
        type='mmrazor.SSDKDReplayBufferHook',
        refresh_interval=1000,
        vis_interval=2000),
    dict(type='mmrazor.SSDKDPrioritySamplerHook'),
]
default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(interval=2000, max_keep_ckpts=3))
