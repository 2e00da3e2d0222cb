# mmpretrain's runtime, sized for minutes-long CPU runs.
_base_ = 'mmpretrain::_base_/default_runtime.py'

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    # keep only the newest epoch checkpoint: the final model at the end
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1),
)

randomness = dict(seed=0)
