# Copyright (c) ssdkd_mm contributors. All rights reserved.
from .cifar import VGG_CIFAR, WideResNet_CIFAR, count_parameters

__all__ = ['VGG_CIFAR', 'WideResNet_CIFAR', 'count_parameters']
