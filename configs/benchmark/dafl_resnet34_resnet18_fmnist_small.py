# mmrazor's DAFL on the race's "small" testbed:
# ./dafl_resnet34_resnet18_fmnist.py with the half-width, stride-2 ResNet-34 -> ResNet-18 of
# ../fashion_mnist/_base_/models/resnet_cifar_fmnist_small.py (same depths
# and layer names, so the recorders are unchanged) and its generator at half
# width (hidden_channels 64 instead of 128), as SSD-KD's is on this testbed.
#   python tools/train.py configs/benchmark/dafl_resnet34_resnet18_fmnist_small.py \
#       --cfg-options model.teachers.res34.ckpt_path=work_dirs/race_small/teacher/teacher.pth
_base_ = [
    './dafl_resnet34_resnet18_fmnist.py',
    '../fashion_mnist/_base_/models/resnet_cifar_fmnist_small.py',
]

teacher_ckpt = 'work_dirs/race_small/teacher/teacher.pth'
model = dict(
    architecture=dict(_delete_=True, **_base_.resnet18_fmnist_small),
    teachers=dict(
        res34=dict(
            build_cfg=dict(_delete_=True, **_base_.resnet34_fmnist_small),
            ckpt_path=teacher_ckpt)),
    generator=dict(hidden_channels=64))
