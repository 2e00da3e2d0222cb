# What every SSD-KD segmentation experiment shares: mmseg's runtime (scope,
# visualizer, env), iteration-based logging and checkpoints, the SSD-KD val
# loop (student, and the teacher once, before training) and separate DDP
# wrapping of student and generator. The classification twin is
# ./ssdkd_runtime.py (mmpretrain's runtime); two files because mmengine
# rejects a key defined by two bases. (`custom_imports` comes with the
# dataset base; set it in your config when you inherit another dataset.)
_base_ = 'mmseg::_base_/default_runtime.py'

val_cfg = dict(type='mmrazor.SSDKDValLoop', teacher_eval='first')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Crash-safe: atomic files and `last_checkpoint`, no NaN checkpoints.
    checkpoint=dict(
        type='mmrazor.SSDKDCheckpointHook',
        by_epoch=False,
        interval=1000,
        max_keep_ckpts=2,
        save_best='auto'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='mmseg.SegVisualizationHook'))
log_processor = dict(by_epoch=False)
model_wrapper_cfg = dict(
    type='MMSeparateDistributedDataParallel',
    broadcast_buffers=False,
    find_unused_parameters=False)
randomness = dict(seed=0, diff_rank_seed=True)
