# Reference: the Fashion-MNIST-Seg student of the SSD-KD benchmark (DeepLabV3,
# ResNetV1c-18 at quarter width) trained on the *real* train split with the
# teacher's schedule -- the upper bound the data-free student is compared with.
_base_ = [
    './_base_/models/deeplabv3_fmnist_seg.py',
    './_base_/fashion_mnist_seg.py',
    './_base_/schedule_default_runtime.py',
]
model = _base_.deeplabv3_r18q
# The data-free student's learning rate, so the two are compared fairly.
optim_wrapper = dict(optimizer=dict(lr=1e-2))
