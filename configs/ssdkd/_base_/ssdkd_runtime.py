# What every SSD-KD experiment shares: mmpretrain's runtime, iteration-based
# logging and checkpoints, the SSD-KD val loop (student, and the teacher once,
# before training), and separate DDP wrapping of student and generator.
# Experiments add the teacher/student, the data-free `train_dataloader`, the
# optimizers, schedules and the three SSD-KD hooks.
_base_ = 'mmpretrain::_base_/default_runtime.py'
custom_imports = dict(imports=['ssdkd_mm'], allow_failed_imports=False)

val_cfg = dict(type='mmrazor.SSDKDValLoop', teacher_eval='first')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    # Crash-safe: atomic files and `last_checkpoint`, no NaN checkpoints.
    checkpoint=dict(
        type='mmrazor.SSDKDCheckpointHook',
        by_epoch=False,
        interval=1000,
        max_keep_ckpts=2,
        save_best='auto'))
log_processor = dict(by_epoch=False)
# Multi-GPU (tools/dist_train.sh): wrap student and generator separately.
model_wrapper_cfg = dict(
    type='MMSeparateDistributedDataParallel',
    broadcast_buffers=False,
    find_unused_parameters=False)
# Ranks must synthesise different images.
randomness = dict(seed=0, diff_rank_seed=True)
