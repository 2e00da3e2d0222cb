from .fashion_mnist import prepare_fashion_mnist
from .fashion_mnist_seg import FashionMNISTSegDataset, prepare_fashion_mnist_seg
from .nyuv2 import NYUv2Dataset
from .placeholder import SSDKDPlaceholderDataset

__all__ = [
    'SSDKDPlaceholderDataset', 'prepare_fashion_mnist',
    'prepare_fashion_mnist_seg', 'FashionMNISTSegDataset', 'NYUv2Dataset'
]
