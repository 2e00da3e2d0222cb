"""prepare_fashion_mnist on tiny generated gzipped IDX files, and the real
Debian files when they are installed."""
import gzip
import os
import os.path as osp

import numpy as np
import pytest

from ssdkd_mm.datasets import fashion_mnist as fm
from ssdkd_mm.datasets.fashion_mnist import load_idx, prepare_fashion_mnist

NAMES = list(fm.IDX_FILES)


def _idx_bytes(array, magic=None):
    """Serialize a uint8 array as IDX (header magic = type 0x08, ndim)."""
    magic = (0x0800 | array.ndim) if magic is None else magic
    head = magic.to_bytes(4, 'big') + b''.join(
        d.to_bytes(4, 'big') for d in array.shape)
    return head + array.astype(np.uint8).tobytes()


def write_gz_set(root, n_train=7, n_test=5, seed=0, bad_magic=None):
    """The four Fashion-MNIST files, gzipped, with random tiny content.

    ``bad_magic``: name of one file to write with a wrong magic number.
    """
    rng = np.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    for prefix, n in (('train', n_train), ('t10k', n_test)):
        arrays = {
            f'{prefix}-images-idx3-ubyte':
            rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
            f'{prefix}-labels-idx1-ubyte':
            (np.arange(n) % 10).astype(np.uint8),
        }
        for name, array in arrays.items():
            magic = 0x0D03 if name == bad_magic else None  # float32, 3 dims
            with gzip.open(osp.join(root, name + '.gz'), 'wb') as f:
                f.write(_idx_bytes(array, magic))
    return str(root)


@pytest.fixture
def no_debian(monkeypatch, tmp_path):
    """Pretend the Debian package is not installed."""
    monkeypatch.setattr(fm, 'DEBIAN_FASHION_MNIST_DIR',
                        str(tmp_path / 'no-debian-package'))


def test_prepare_decompresses_and_is_idempotent(tmp_path, no_debian):
    src = write_gz_set(tmp_path / 'src')
    root = str(tmp_path / 'data')
    assert prepare_fashion_mnist(root, src, expected_counts=None) == root
    assert sorted(os.listdir(root)) == sorted(NAMES)  # no temp files left
    for name in NAMES:
        with gzip.open(osp.join(src, name + '.gz')) as f:
            assert open(osp.join(root, name), 'rb').read() == f.read()
    imgs = load_idx(osp.join(root, 't10k-images-idx3-ubyte'))
    assert imgs.shape == (5, 28, 28) and imgs.dtype == np.uint8
    np.testing.assert_array_equal(
        imgs, load_idx(osp.join(src, 't10k-images-idx3-ubyte.gz')))

    # second call: files kept as they are, even without any source
    mtimes = [os.stat(osp.join(root, n)).st_mtime_ns for n in NAMES]
    prepare_fashion_mnist(root, expected_counts=None)
    assert mtimes == [os.stat(osp.join(root, n)).st_mtime_ns for n in NAMES]


def test_prepare_accepts_uncompressed_source(tmp_path, no_debian):
    src = write_gz_set(tmp_path / 'src')
    plain = tmp_path / 'plain'
    prepare_fashion_mnist(str(plain), src, expected_counts=None)
    root = str(tmp_path / 'data')
    prepare_fashion_mnist(root, str(plain), expected_counts=None)
    assert load_idx(osp.join(root, 'train-labels-idx1-ubyte')).shape == (7, )


def test_prepare_rejects_bad_magic(tmp_path, no_debian):
    src = write_gz_set(tmp_path / 'src', bad_magic='t10k-images-idx3-ubyte')
    root = tmp_path / 'data'
    with pytest.raises(RuntimeError, match='magic number'):
        prepare_fashion_mnist(str(root), src, expected_counts=None)
    # validated before it is moved into place: nothing bad, nothing partial
    assert not (root / 't10k-images-idx3-ubyte').exists()
    assert not [f for f in os.listdir(root) if f.endswith('.tmp')]


def test_prepare_replaces_truncated_file(tmp_path, no_debian):
    src = write_gz_set(tmp_path / 'src')
    root = tmp_path / 'data'
    prepare_fashion_mnist(str(root), src, expected_counts=None)
    path = root / 'train-images-idx3-ubyte'
    good = path.read_bytes()
    path.write_bytes(good[:100])  # as a killed non-atomic copy would leave
    prepare_fashion_mnist(str(root), src, expected_counts=None)
    assert path.read_bytes() == good


def test_prepare_checks_counts(tmp_path, no_debian):
    src = write_gz_set(tmp_path / 'src')
    with pytest.raises(RuntimeError, match='expected 60000'):
        prepare_fashion_mnist(str(tmp_path / 'data'), src)  # real counts
    prepare_fashion_mnist(
        str(tmp_path / 'data'), src, expected_counts=dict(train=7, test=5))


def test_prepare_missing_source_names_the_fix(tmp_path, no_debian):
    with pytest.raises(
            FileNotFoundError, match='apt-get install dataset-fashion-mnist'):
        prepare_fashion_mnist(str(tmp_path / 'data'))
    with pytest.raises(FileNotFoundError, match='--source'):
        prepare_fashion_mnist(str(tmp_path / 'data'), str(tmp_path / 'nope'))


def test_mmpretrain_reads_prepared_set(tmp_path, no_debian):
    from mmpretrain.datasets import FashionMNIST
    root = str(tmp_path / 'data')
    prepare_fashion_mnist(
        root, write_gz_set(tmp_path / 'src'), expected_counts=None)
    # test_mode=True: mmpretrain 1.2 ignores `split` and reads train files
    # without it (see configs/fashion_mnist/_base_/fashion_mnist_bs128.py)
    test = FashionMNIST(
        data_root=root, split='test', test_mode=True, download=False)
    train = FashionMNIST(data_root=root, split='train', download=False)
    assert (len(train), len(test)) == (7, 5)
    np.testing.assert_array_equal(
        test.get_data_info(4)['img'],
        load_idx(osp.join(root, 't10k-images-idx3-ubyte'))[4])
    assert int(test.get_data_info(4)['gt_label']) == 4


@pytest.mark.skipif(
    not osp.isdir(fm.DEBIAN_FASHION_MNIST_DIR),
    reason='apt-get install dataset-fashion-mnist')
def test_debian_files_have_the_real_counts():
    d = fm.DEBIAN_FASHION_MNIST_DIR
    labels = load_idx(osp.join(d, 't10k-labels-idx1-ubyte.gz'))
    assert labels.shape == (10000, )
    assert np.bincount(labels).tolist() == [1000] * 10
    assert load_idx(osp.join(d,
                             'train-labels-idx1-ubyte.gz')).shape == (60000, )
    assert load_idx(osp.join(d, 't10k-images-idx3-ubyte.gz')).shape == (10000,
                                                                        28, 28)
