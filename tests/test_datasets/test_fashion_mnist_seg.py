"""Fashion-MNIST-Seg: composed canvases, the prepared layout, the mmseg
dataset, and the split separation."""
import json
import os.path as osp

import numpy as np
import pytest
from _fmnist_fake import write_idx_set

from ssdkd_mm.datasets.fashion_mnist_seg import (FASHION_MNIST_SEG_CLASSES,
                                                 MASK_THRESHOLD,
                                                 compose_canvas,
                                                 prepare_fashion_mnist_seg)


def test_canvas_labels_garment_pixels_with_class_plus_one():
    garments = np.zeros((1, 28, 28), np.uint8)
    garments[0, 4:24, 8:20] = 255  # a bright 20x12 block
    rng = np.random.default_rng(0)
    img, mask = compose_canvas(rng, garments, np.array([6]), size=28,
                               max_objects=1, scale=(1.0, 1.0))
    assert img.shape == (28, 28, 3) and img.dtype == np.uint8
    assert set(np.unique(mask).tolist()) == {0, 7}
    assert int((mask == 7).sum()) == 20 * 12
    # background pixels keep the background colours (dark), garment pixels
    # carry the bright tint
    assert img[mask == 7].mean() > img[mask == 0].mean() + 50
    assert MASK_THRESHOLD > 0


def test_prepare_writes_splits_from_the_matching_source_split(tmp_path):
    src = write_idx_set(str(tmp_path / 'src'), n_train=30, n_test=20)
    out = prepare_fashion_mnist_seg(
        str(tmp_path / 'seg'), str(tmp_path / 'fmnist'), source=src,
        counts=dict(train=5, test=3), size=32, expected_counts=None)
    for split, n in (('train', 5), ('test', 3)):
        for kind in ('img_dir', 'ann_dir'):
            assert len(list((tmp_path / 'seg' / kind / split).iterdir())) == n
    meta = json.load(open(osp.join(out, 'meta.json')))
    assert meta['counts'] == dict(train=5, test=3)
    # idempotent: same parameters, nothing rewritten
    stamp = osp.getmtime(osp.join(out, 'img_dir', 'train', '00000.png'))
    prepare_fashion_mnist_seg(out, str(tmp_path / 'fmnist'), source=src,
                              counts=dict(train=5, test=3), size=32,
                              expected_counts=None)
    assert osp.getmtime(osp.join(out, 'img_dir', 'train',
                                 '00000.png')) == stamp

    from mmengine.registry import DefaultScope
    from mmseg.registry import DATASETS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    # run alone, no default scope is set: mmseg's transforms need it
    with DefaultScope.overwrite_default_scope('mmseg'):
        _check_dataset(DATASETS, out)


def _check_dataset(DATASETS, out):
    ds = DATASETS.build(dict(
        type='FashionMNISTSegDataset', data_root=out,
        data_prefix=dict(img_path='img_dir/test',
                         seg_map_path='ann_dir/test'),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadAnnotations'),
                  dict(type='PackSegInputs')]))
    assert len(ds) == 3
    assert tuple(ds.metainfo['classes']) == FASHION_MNIST_SEG_CLASSES
    item = ds[0]
    assert tuple(item['inputs'].shape) == (3, 32, 32)
    assert int(item['data_samples'].gt_sem_seg.data.max()) <= 10


def test_prepare_rejects_bad_counts(tmp_path):
    with pytest.raises(ValueError, match='counts'):
        prepare_fashion_mnist_seg(str(tmp_path / 'x'), counts=dict(train=0,
                                                                 test=1))
