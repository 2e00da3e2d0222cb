# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Fashion-MNIST-Seg: a real-pixel semantic-segmentation benchmark that can be
built offline from Fashion-MNIST.

Each image is a ``size``×``size`` RGB canvas (a smooth random colour gradient
with sensor-like noise) on which 1 to ``max_objects`` real Fashion-MNIST
garments are pasted at random positions and scales, each tinted with a random
colour and alpha-blended by its own grey level. The label of a pixel is the
garment's class + 1 where the garment covers it (grey level ≥
``MASK_THRESHOLD``), else 0 (background); later garments occlude earlier ones.

The ``train`` split is composed from Fashion-MNIST's 60k training images only,
the ``test`` split from its 10k held-out test images only, so a model trained
on ``train`` is evaluated on garments it has never seen.

Layout (what :class:`FashionMNISTSegDataset` and mmseg's pipelines read)::

    <out_root>/img_dir/{train,test}/00000.png   # RGB images (BGR on disk)
    <out_root>/ann_dir/{train,test}/00000.png   # uint8 label maps, 0..10
    <out_root>/meta.json                        # generation parameters
"""
import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Dict, Optional, Tuple

import numpy as np

from .fashion_mnist import (DEBIAN_FASHION_MNIST_DIR, FASHION_MNIST_COUNTS,
                            load_idx, prepare_fashion_mnist)

FASHION_MNIST_SEG_CLASSES = ('background', 'T-shirt/top', 'Trouser',
                             'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt',
                             'Sneaker', 'Bag', 'Ankle boot')
FASHION_MNIST_SEG_PALETTE = [[0, 0, 0], [128, 0, 0], [0, 128, 0],
                             [128, 128, 0], [0, 0, 128], [128, 0, 128],
                             [0, 128, 128], [128, 128, 128], [64, 0, 0],
                             [192, 0, 0], [64, 128, 0]]
#: Default images per split (composed from 60k / 10k source garments).
FASHION_MNIST_SEG_COUNTS: Dict[str, int] = dict(train=10000, test=2000)
#: A garment pixel is labelled when its grey level is at least this (0-255).
MASK_THRESHOLD = 40
_FORMAT_VERSION = 1
_SOURCE_FILES = {
    'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
    'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'),
}


def compose_canvas(rng: np.random.Generator,
                   garments: np.ndarray,
                   labels: np.ndarray,
                   size: int = 64,
                   max_objects: int = 3,
                   scale: Tuple[float, float] = (1.0, 1.6)
                   ) -> Tuple[np.ndarray, np.ndarray]:
    """One canvas from a pool of garments.

    Args:
        rng (np.random.Generator): Source of randomness.
        garments (np.ndarray): (N, 28, 28) uint8 grey garments.
        labels (np.ndarray): (N, ) their classes 0..9.
        size (int): Canvas side. Defaults to 64.
        max_objects (int): 1 to this many garments per canvas.
        scale (tuple): Range of the garment's scale (28 px × scale).

    Returns:
        tuple: (size, size, 3) uint8 RGB image and (size, size) uint8 labels.
    """
    import cv2
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / max(size - 1, 1)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx + np.sin(angle) * yy)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    c0, c1 = rng.uniform(0, 110, 3), rng.uniform(0, 110, 3)
    img = c0 + (c1 - c0) * ramp[..., None]
    img = img + rng.normal(0, 6, img.shape)
    mask = np.zeros((size, size), np.uint8)
    for _ in range(int(rng.integers(1, max_objects + 1))):
        i = int(rng.integers(len(garments)))
        side = int(round(28 * rng.uniform(*scale)))
        side = min(side, size)
        g = cv2.resize(garments[i], (side, side),
                       interpolation=cv2.INTER_LINEAR).astype(np.float32)
        y, x = (int(v) for v in rng.integers(0, size - side + 1, 2))
        alpha = (g / 255.0)[..., None]
        tint = rng.uniform(115, 255, 3)
        patch = img[y:y + side, x:x + side]
        img[y:y + side, x:x + side] = patch * (1 - alpha) + tint * alpha
        mask[y:y + side, x:x + side][g >= MASK_THRESHOLD] = labels[i] + 1
    return np.clip(img, 0, 255).round().astype(np.uint8), mask


def _meta(size, counts, max_objects, seed) -> dict:
    return dict(format=_FORMAT_VERSION, size=size, counts=dict(counts),
                max_objects=max_objects, seed=seed,
                mask_threshold=MASK_THRESHOLD,
                classes=list(FASHION_MNIST_SEG_CLASSES))


def prepare_fashion_mnist_seg(out_root: str = 'data/fashion_mnist_seg',
                              fashion_mnist_root: str = 'data/fashion_mnist',
                              source: Optional[str] = None,
                              counts: Optional[Dict[str, int]] = None,
                              size: int = 64,
                              max_objects: int = 3,
                              seed: int = 0,
                              expected_counts='default') -> str:
    """Compose Fashion-MNIST-Seg into ``out_root`` (idempotent).

    Fashion-MNIST itself is first unpacked into ``fashion_mnist_root`` with
    :func:`prepare_fashion_mnist` (from ``source`` or the Debian package).
    Nothing is rewritten when ``out_root/meta.json`` records the same
    parameters; the splits are written to a temporary directory and moved in
    place, so an interrupted run leaves no half-written dataset behind.

    Returns:
        str: ``out_root``.
    """
    counts = dict(counts or FASHION_MNIST_SEG_COUNTS)
    if set(counts) != {'train', 'test'} or min(counts.values()) < 1:
        raise ValueError("counts must give >= 1 image for both 'train' and "
                         f"'test', got {counts}")
    meta = _meta(size, counts, max_objects, seed)
    meta_path = osp.join(out_root, 'meta.json')
    if osp.isfile(meta_path):
        with open(meta_path) as f:
            if json.load(f) == meta:
                return out_root
    kwargs = {} if expected_counts == 'default' else dict(
        expected_counts=expected_counts)
    src_root = prepare_fashion_mnist(fashion_mnist_root, source, **kwargs)

    import cv2
    parent = osp.dirname(osp.abspath(out_root))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.fmnist_seg_', dir=parent)
    try:
        for split_id, split in enumerate(('train', 'test')):
            img_file, lbl_file = _SOURCE_FILES[split]
            garments = load_idx(osp.join(src_root, img_file))
            labels = load_idx(osp.join(src_root, lbl_file))
            rng = np.random.default_rng([seed, split_id])
            img_dir = osp.join(tmp, 'img_dir', split)
            ann_dir = osp.join(tmp, 'ann_dir', split)
            os.makedirs(img_dir)
            os.makedirs(ann_dir)
            for k in range(counts[split]):
                img, mask = compose_canvas(rng, garments, labels, size,
                                           max_objects)
                name = f'{k:05d}.png'
                cv2.imwrite(osp.join(img_dir, name), img[..., ::-1])
                cv2.imwrite(osp.join(ann_dir, name), mask)
        with open(osp.join(tmp, 'meta.json'), 'w') as f:
            json.dump(meta, f, indent=1)
        if osp.exists(out_root):
            shutil.rmtree(out_root)
        os.replace(tmp, out_root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_root


def _register_mmseg_dataset():
    """Register :class:`FashionMNISTSegDataset` in mmseg's DATASETS (mmseg is
    an optional dependency; nothing happens without it)."""
    try:
        from mmseg.datasets import BaseSegDataset
        from mmseg.registry import DATASETS
    except ImportError:  # pragma: no cover - mmseg not installed
        return None

    @DATASETS.register_module(force=True)
    class FashionMNISTSegDataset(BaseSegDataset):
        """Fashion-MNIST-Seg for mmseg: 11 classes (background + the 10
        Fashion-MNIST classes), PNG images and label maps, see
        :mod:`ssdkd_mm.datasets.fashion_mnist_seg`.

        Typical use: ``data_root='data/fashion_mnist_seg'``,
        ``data_prefix=dict(img_path='img_dir/test',
        seg_map_path='ann_dir/test')``.
        """
        METAINFO = dict(
            classes=FASHION_MNIST_SEG_CLASSES,
            palette=FASHION_MNIST_SEG_PALETTE)

        def __init__(self, img_suffix='.png', seg_map_suffix='.png',
                     reduce_zero_label=False, **kwargs) -> None:
            super().__init__(
                img_suffix=img_suffix,
                seg_map_suffix=seg_map_suffix,
                reduce_zero_label=reduce_zero_label,
                **kwargs)

    return FashionMNISTSegDataset


FashionMNISTSegDataset = _register_mmseg_dataset()

__all__ = [
    'FASHION_MNIST_SEG_CLASSES', 'FASHION_MNIST_SEG_COUNTS',
    'FashionMNISTSegDataset', 'compose_canvas', 'prepare_fashion_mnist_seg',
    'DEBIAN_FASHION_MNIST_DIR', 'FASHION_MNIST_COUNTS'
]
