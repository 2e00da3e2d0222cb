# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""NYUv2 with the 13-class labels, in the layout the data-free KD
benchmarks (DFAD, Fast-DFKD, SSD-KD) read, prepared by the common NYUv2
toolkit (795 training and 654 test images of 640×480)::

    <data_root>/image/{train,test}/<name>.png   # RGB images
    <data_root>/seg13/{train,test}/<name>.png   # uint8 labels 0..12,
                                                # 255 = unlabelled
    <data_root>/splits.mat                      # (not read)

An image and its label map share the file name. mmseg's ``ignore_index``
(255) skips the unlabelled pixels. See ``configs/nyuv2/_base_/nyuv2.py``
for the pipelines (resize to a 256 short side, 128 random crops for
training) and the normalisation (mean = std = 0.5).
"""
import os.path as osp

#: The 13 classes of Couprie et al. (2013), in the toolkit's label order.
NYUV2_CLASSES = ('bed', 'books', 'ceiling', 'chair', 'floor', 'furniture',
                 'objects', 'painting', 'sofa', 'table', 'tv', 'wall',
                 'window')
NYUV2_PALETTE = [[0, 0, 255], [232, 88, 47], [0, 217, 0], [148, 0, 240],
                 [222, 241, 23], [255, 205, 205], [0, 223, 228],
                 [106, 135, 204], [116, 28, 41], [240, 35, 235],
                 [0, 166, 156], [249, 139, 0], [225, 228, 194]]
#: Images per split of the standard (Gupta et al.) split.
NYUV2_COUNTS = dict(train=795, test=654)


def _register_mmseg_dataset():
    """Register :class:`NYUv2Dataset` in mmseg's DATASETS (mmseg is an
    optional dependency; nothing happens without it)."""
    try:
        from mmseg.datasets import BaseSegDataset
        from mmseg.registry import DATASETS
    except ImportError:  # pragma: no cover - mmseg not installed
        return None

    @DATASETS.register_module(force=True)
    class NYUv2Dataset(BaseSegDataset):
        """NYUv2, 13 classes, for mmseg (see :mod:`ssdkd_mm.datasets.nyuv2`).

        Typical use: ``data_root='data/NYUv2'``,
        ``data_prefix=dict(img_path='image/test',
        seg_map_path='seg13/test')``.
        """
        METAINFO = dict(classes=NYUV2_CLASSES, palette=NYUV2_PALETTE)

        def __init__(self, img_suffix='.png', seg_map_suffix='.png',
                     reduce_zero_label=False, **kwargs) -> None:
            super().__init__(
                img_suffix=img_suffix,
                seg_map_suffix=seg_map_suffix,
                reduce_zero_label=reduce_zero_label,
                **kwargs)

        def load_data_list(self):
            img_dir = self.data_prefix.get('img_path', '')
            data_list = (super().load_data_list()
                         if osp.isdir(img_dir) else [])
            if not data_list:
                raise FileNotFoundError(
                    f'NYUv2Dataset: no {self.img_suffix} image under '
                    f'{img_dir}: expected the toolkit layout '
                    '<data_root>/image/{train,test}/*.png and '
                    '<data_root>/seg13/{train,test}/*.png (set data_root '
                    'to the NYUv2 folder).')
            return data_list

    return NYUv2Dataset


NYUv2Dataset = _register_mmseg_dataset()

__all__ = ['NYUV2_CLASSES', 'NYUV2_COUNTS', 'NYUV2_PALETTE', 'NYUv2Dataset']
