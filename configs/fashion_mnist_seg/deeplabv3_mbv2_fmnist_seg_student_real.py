# Reference: the Fashion-MNIST-Seg student (DeepLabV3, MobileNetV2 x0.5)
# trained on the *real* train split with the teacher's schedule -- the upper
# bound the data-free student is compared with.
_base_ = [
    './_base_/models/deeplabv3_fmnist_seg.py',
    './_base_/fashion_mnist_seg.py',
    './_base_/schedule_default_runtime.py',
]
model = _base_.deeplabv3_mbv2
