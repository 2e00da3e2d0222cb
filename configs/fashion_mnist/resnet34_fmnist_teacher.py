# Teacher of the Fashion-MNIST SSD-KD demo: CIFAR ResNet-34 at base width 16
# (1.33 M params), trained on the real 60k train split.
# Measured (2 CPU cores, fp32, seed 0): 92.91 % top-1 on the real test split
# after 4 epochs, ~160 s per epoch (0.31-0.33 s/iter) with the cores to itself.
#
#   python tools/prepare_fashion_mnist.py
#   python tools/train.py configs/fashion_mnist/resnet34_fmnist_teacher.py \
#       --work-dir work_dirs/fmnist_teacher
_base_ = [
    './_base_/models/resnet_cifar_fmnist.py',
    './_base_/fashion_mnist_bs128.py',
    './_base_/default_runtime.py',
]

model = _base_.resnet34_fmnist

# A short one-cycle schedule: the budget is minutes of CPU, not epochs.
max_epochs = 4
optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=0.2, momentum=0.9, weight_decay=5e-4, nesterov=True),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
param_scheduler = dict(
    type='OneCycleLR',
    eta_max=0.2,
    pct_start=0.25,
    by_epoch=True,
    begin=0,
    end=max_epochs,  # change together with train_cfg.max_epochs
    convert_to_iter_based=True)

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
