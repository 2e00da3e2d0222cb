from .fashion_mnist import prepare_fashion_mnist
from .placeholder import SSDKDPlaceholderDataset

__all__ = ['SSDKDPlaceholderDataset', 'prepare_fashion_mnist']
