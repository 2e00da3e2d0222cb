# SSD-KD for an mmseg segmentor: everything the method needs and no key an
# OpenMMLab dataset base defines (data_preprocessor, crop_size, pipelines,
# loaders, evaluators). Inherit it next to a dataset base and name teacher,
# student and checkpoint:
#
#   _base_ = ['mmseg::_base_/datasets/pascal_voc12_aug.py',
#             'ssdkd_mm::ssdkd/_base_/ssdkd_seg.py']
#   img_size = 256  # the generator's images (random crops of the 512 ones)
#   model = dict(
#       teacher=dict(cfg_path='mmseg::deeplabv3/'
#                    'deeplabv3_r101-d8_4xb4-20k_voc12aug-512x512.py'),
#       architecture=dict(cfg_path='my_student_config.py'),
#       teacher_ckpt='checkpoints/deeplabv3_r101_voc12aug.pth')
#
# SSDKDRunner completes the rest at start-up and logs what it set (see
# ssdkd_mm/engine/config.py): the data-free training loader, the teacher's
# normalisation (its data_preprocessor), the generator's image size (img_size,
# else the crop), the buffer (10 % of the training set when the dataset type
# tells its size, else set model.replay_buffer.capacity) and the schedules
# from train_cfg.max_iters and warmup_iters.
# (no custom_imports: whoever resolves `ssdkd_mm::` has imported ssdkd_mm)
_base_ = ['./ssdkd_seg_runtime.py']
runner_type = 'mmrazor.SSDKDRunner'

warmup_iters = 50  # synthesis-only rounds that seed the buffer
model = dict(
    _scope_='mmrazor',
    type='SSDKDDistillation',
    task='seg',
    task_cfg=dict(background=0, target='relabel'),
    generator=dict(type='SSDKDDeepGenerator', nz=256, ngf=64, base_size=8),
    inversion=dict(
        g_steps=2,
        synth_batch_size=32,
        lr_g=5e-3,
        lr_z=0.015,
        bn_weight=3.0,
        oh_weight=0.5,
        adv_weight=1.0,
        bn_momentum=0.9),
    modulating=dict(gamma=2.0, diversity='inverse_freq', kappa=5.0),
    replay_buffer=dict(eviction='lowest_priority'),
    sampler=dict(mode='proportional', alpha=0.6, beta=(0.4, 1.0)),
    priority=dict(tau=1.0, uses_phi=True),
    kd=dict(
        tau=1.0,
        batch_size=16,
        augment=dict(
            crop_padding=16, hflip=True, scale=(0.7, 1.4),
            color_jitter=0.3)))

optim_wrapper = dict(
    constructor='mmrazor.SeparateOptimWrapperConstructor',
    architecture=dict(
        optimizer=dict(type='SGD', lr=0.01, momentum=0.9,
                       weight_decay=5e-4)),
    generator=dict(optimizer=dict(type='Adam', lr=1e-2, betas=(0.5, 0.999))))
# begin / end follow warmup_iters and train_cfg.max_iters
param_scheduler = dict(
    architecture=[
        dict(type='PolyLR', eta_min=1e-4, power=0.9, by_epoch=False)
    ],
    generator=[dict(type='ConstantLR', factor=1.0, by_epoch=False)])

train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=warmup_iters + 40000,
    val_interval=4000)
custom_hooks = [
    # warmup_iters / begin_iter follow the top-level warmup_iters
    dict(type='mmrazor.SSDKDInversionHook', synth_interval=20),
    dict(
        type='mmrazor.SSDKDReplayBufferHook',
        refresh_interval=2000,
        vis_interval=4000),
    dict(type='mmrazor.SSDKDPrioritySamplerHook'),
]
default_hooks = dict(checkpoint=dict(interval=4000))
