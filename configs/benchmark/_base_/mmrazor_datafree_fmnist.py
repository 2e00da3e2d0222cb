# What mmrazor's data-free algorithms (DAFL, ZSKT, DFAD) share on
# Fashion-MNIST: the same teacher, student, placeholder training data, real
# test split and runtime as configs/ssdkd/ssdkd_resnet34_resnet18_fmnist.py,
# so `tools/benchmark.py` compares methods, not set-ups.
#
# mmrazor's algorithms run through the thin subclasses in
# ssdkd_mm/models/algorithms/mmrazor_datafree.py (single-process crash,
# generator->student gradient leak, real-data "placeholder" fixed); its
# generators through `out_channels` variants (grayscale).
_base_ = [
    '../../fashion_mnist/_base_/fashion_mnist_bs128.py',
    '../../fashion_mnist/_base_/models/resnet_cifar_fmnist.py',
    '../../ssdkd/_base_/ssdkd_runtime.py',
]

teacher_ckpt = 'work_dirs/demo/teacher/teacher.pth'
batch_size = 128  # synthetic images per step (SSD-KD's KD batch)
max_iters = 3000

data_preprocessor = None
model = dict(
    _scope_='mmrazor',
    data_preprocessor=dict(
        type='mmpretrain.ClsDataPreprocessor',
        num_classes=10,
        mean=[72.94],
        std=[90.02],
        to_rgb=False),
    architecture=_base_.resnet18_fmnist,
    teachers=dict(
        res34=dict(build_cfg=_base_.resnet34_fmnist, ckpt_path=teacher_ckpt)),
    batch_size=batch_size,
    # the same precision and memory format as the SSD-KD config
    autocast='bfloat16',
    channels_last=True)

# mmrazor's configs end in MultiStepLR over 25-30k iterations; here every
# method gets the same cosine student schedule, stretched to the time budget.
param_scheduler = dict(
    architecture=[
        dict(
            type='CosineAnnealingLR',
            by_epoch=False,
            begin=0,
            end=max_iters,
            T_max=max_iters,
            eta_min=1e-4)
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
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=1000)
# mmrazor's algorithms have no `.teacher`: the student alone is validated.
val_cfg = dict(_delete_=True, type='ValLoop')
