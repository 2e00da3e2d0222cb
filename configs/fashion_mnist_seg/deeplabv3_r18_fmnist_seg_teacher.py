# Teacher of the Fashion-MNIST-Seg SSD-KD benchmark: DeepLabV3 with a
# half-width ResNetV1c-18, trained on the real train split.
#
#   python tools/prepare_fashion_mnist_seg.py
#   python tools/train.py configs/fashion_mnist_seg/deeplabv3_r18_fmnist_seg_teacher.py
_base_ = [
    './_base_/models/deeplabv3_fmnist_seg.py',
    './_base_/fashion_mnist_seg.py',
    './_base_/schedule_default_runtime.py',
]
model = _base_.deeplabv3_r18
