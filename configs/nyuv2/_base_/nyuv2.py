# NYUv2, 13 classes, as the data-free KD benchmarks (DFAD, Fast-DFKD,
# SSD-KD) use it: the toolkit layout (ssdkd_mm/datasets/nyuv2.py), images
# resized to a 256 short side, 128×128 random crops and flips for training,
# the whole resized image for testing, mean = std = 0.5 (the
# data_preprocessor of the model configs next to this file).
custom_imports = dict(imports=['ssdkd_mm'], allow_failed_imports=False)
dataset_type = 'NYUv2Dataset'
data_root = 'data/NYUv2'
crop_size = (128, 128)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=(1024, 256), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1024, 256), keep_ratio=True),
    # annotations after Resize: IoUMetric compares at the label's own size
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='image/train', seg_map_path='seg13/train'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='image/test', seg_map_path='seg13/test'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
