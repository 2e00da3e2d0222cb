# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""The training 'dataset' of a data-free run: it holds no data."""
import torch
from torch.utils.data import Dataset

from mmrazor.registry import DATASETS


@DATASETS.register_module()
class SSDKDPlaceholderDataset(Dataset):
    """Drives the iteration-based loop without reading any image.

    Every item is a 1-byte dummy; the algorithm ignores it. Use with
    ``batch_size=1``, ``num_workers=0``, an ``InfiniteSampler`` and
    ``collate_fn=dict(type='pseudo_collate')``.

    Args:
        length (int): Nominal length. Defaults to 10**6.
        metainfo (dict, optional): Passed to the visualizer.
    """

    def __init__(self, length: int = 10**6, metainfo: dict = None) -> None:
        self.length = length
        self.metainfo = dict(metainfo or {})

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, idx: int) -> dict:
        return dict(inputs=torch.zeros(1, dtype=torch.uint8))
