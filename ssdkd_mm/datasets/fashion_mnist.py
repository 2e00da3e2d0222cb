# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Put Fashion-MNIST where mmpretrain's ``FashionMNIST`` dataset reads it.

mmpretrain reads the four *un-gzipped* IDX files from its ``data_root`` and
downloads them when they are missing. Offline, the Debian package
``dataset-fashion-mnist`` ships the same files gzipped under
``/usr/share/datasets/fashion-mnist``; :func:`prepare_fashion_mnist` unpacks
them (or the files of any directory given as ``source``) into ``data_root``.

Pure numpy / stdlib, so tools and tests can use it without torch.
"""
import gzip
import logging
import os
import os.path as osp
import shutil
import tempfile
from typing import Dict, Optional

import numpy as np

logger = logging.getLogger(__name__)

#: Where the Debian package ``dataset-fashion-mnist`` installs the files.
DEBIAN_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist'

#: Pixel mean / std of the 60k train split on the 0-255 scale (measured:
#: 72.9404 / 90.0212), for ``data_preprocessor`` of 1-channel models.
FASHION_MNIST_MEAN = 72.94
FASHION_MNIST_STD = 90.02

Counts = Dict[str, int]  # images per split: {'train': n, 'test': n}

#: Images per split of the real dataset; the default ``expected_counts``.
FASHION_MNIST_COUNTS: Counts = dict(train=60000, test=10000)

_IMAGE_MAGIC = 0x00000803  # unsigned byte, 3 dims (N, H, W)
_LABEL_MAGIC = 0x00000801  # unsigned byte, 1 dim (N, )
_IMAGE_SIZE = (28, 28)

#: file name (as mmpretrain reads it, without .gz) -> (split, IDX magic)
IDX_FILES = {
    'train-images-idx3-ubyte': ('train', _IMAGE_MAGIC),
    'train-labels-idx1-ubyte': ('train', _LABEL_MAGIC),
    't10k-images-idx3-ubyte': ('test', _IMAGE_MAGIC),
    't10k-labels-idx1-ubyte': ('test', _LABEL_MAGIC),
}

# IDX type code -> numpy dtype (big-endian as stored)
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype('>i2'),
    0x0C: np.dtype('>i4'),
    0x0D: np.dtype('>f4'),
    0x0E: np.dtype('>f8'),
}

_HOW_TO_GET_IT = (
    'Install it with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu), '
    'or pass --source DIR (`source=DIR`) with the four IDX files '
    '(.gz or not), or run with network access so that mmpretrain downloads '
    'it (FashionMNIST(download=True)).')


def _open(path: str):
    """Open an IDX file, gzipped or not, for binary reading."""
    return gzip.open(path, 'rb') if path.endswith('.gz') else open(path, 'rb')


def load_idx(path: str) -> np.ndarray:
    """Read a whole IDX file (``.gz`` or raw) into a numpy array.

    Args:
        path (str): Path of the file, e.g. ``t10k-labels-idx1-ubyte.gz``.

    Returns:
        np.ndarray: Array of the shape and dtype given by the file header,
        e.g. ``(10000, 28, 28)`` uint8 for Fashion-MNIST test images.
    """
    with _open(path) as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 \
            or data[2] not in _IDX_DTYPES:
        raise RuntimeError(f'{path} is not an IDX file (bad magic number).')
    dtype, ndim = _IDX_DTYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    shape = tuple(
        int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim))
    if len(data) != header + int(np.prod(shape)) * dtype.itemsize:
        raise RuntimeError(
            f'{path} is truncated or corrupt: the header says '
            f'shape {shape} but the file has {len(data)} bytes.')
    return np.frombuffer(
        data, dtype=dtype, offset=header).reshape(shape).astype(
            dtype.newbyteorder('='), copy=False)


def _check_idx(path: str, magic: int) -> int:
    """Check an un-gzipped IDX file's magic, shape and size; return N."""
    ndim = magic & 0xFF
    with open(path, 'rb') as f:
        head = f.read(4 + 4 * ndim)
    found = int.from_bytes(head[:4], 'big') if len(head) >= 4 else None
    if found != magic:
        raise RuntimeError(
            f'{path}: bad IDX magic number '
            f'{"none" if found is None else hex(found)}, expected '
            f'{hex(magic)}. The file is not a Fashion-MNIST '
            f'{"image" if magic == _IMAGE_MAGIC else "label"} file. ' +
            _HOW_TO_GET_IT)
    dims = [
        int.from_bytes(head[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim)
    ]
    if ndim == 3 and tuple(dims[1:]) != _IMAGE_SIZE:
        raise RuntimeError(f'{path}: images are {dims[1]}x{dims[2]}, '
                           f'expected {_IMAGE_SIZE[0]}x{_IMAGE_SIZE[1]}.')
    expected_size = len(head) + int(np.prod(dims))
    if os.path.getsize(path) != expected_size:
        raise RuntimeError(
            f'{path} is truncated or corrupt: {os.path.getsize(path)} bytes, '
            f'expected {expected_size} for {dims[0]} items.')
    return dims[0]


def _find_source(name: str, dirs) -> Optional[str]:
    """First ``<dir>/<name>.gz`` or ``<dir>/<name>`` that exists, if any."""
    for d in dirs:
        for candidate in (osp.join(d, name + '.gz'), osp.join(d, name)):
            if osp.isfile(candidate):
                return candidate
    return None


def _install(src: str, dst: str, magic: int) -> None:
    """Decompress/copy ``src`` to ``dst`` atomically, validating it first."""
    fd, tmp = tempfile.mkstemp(
        prefix=osp.basename(dst) + '.', suffix='.tmp', dir=osp.dirname(dst))
    try:
        with os.fdopen(fd, 'wb') as out, _open(src) as inp:
            shutil.copyfileobj(inp, out, 1 << 20)
        _check_idx(tmp, magic)
        # mkstemp makes the file 0600; give it the usual umask permissions
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        # an interrupted run leaves at most a *.tmp file, never a short `dst`
        os.replace(tmp, dst)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def prepare_fashion_mnist(
        data_root: str,
        source: Optional[str] = None,
        expected_counts: Optional[Counts] = FASHION_MNIST_COUNTS) -> str:
    """Make ``data_root`` hold the IDX files mmpretrain's ``FashionMNIST``
    reads.

    A valid file already in ``data_root`` is kept, so calling this again is
    a cheap no-op. A missing or invalid (e.g. truncated) one is decompressed
    or copied from ``source`` when given (only from there), else from the
    Debian package's directory, through a temporary file that is validated
    and then renamed, so an interrupted run never leaves a partial file.

    Args:
        data_root (str): Directory to fill; the ``data_root`` of the dataset
            config. Created if missing.
        source (str, optional): Directory holding the four files, each either
            gzipped (``train-images-idx3-ubyte.gz``, as distributed) or not.
            Defaults to None: use :data:`DEBIAN_FASHION_MNIST_DIR`.
        expected_counts (dict, optional): Images per split, keys ``'train'``
            and ``'test'``. Defaults to the real 60000 / 10000. None checks
            only that images and labels of a split agree (small test sets).

    Returns:
        str: ``data_root``.

    Raises:
        FileNotFoundError: A file is neither in a source nor in ``data_root``.
        RuntimeError: A file is not a valid Fashion-MNIST IDX file (magic
            number, image size, truncation, counts).
    """
    if source is not None and not osp.isdir(source):
        raise FileNotFoundError(
            f'Fashion-MNIST source directory {source} does not exist. ' +
            _HOW_TO_GET_IT)
    sources = [source] if source is not None else [DEBIAN_FASHION_MNIST_DIR]
    os.makedirs(data_root, exist_ok=True)

    counts: Dict[str, Dict[int, int]] = {}
    for name, (split, magic) in IDX_FILES.items():
        dst = osp.join(data_root, name)
        if osp.isfile(dst):
            try:
                counts.setdefault(split, {})[magic] = _check_idx(dst, magic)
                continue
            except RuntimeError as e:
                logger.warning('Replacing invalid %s (%s)', dst, e)
        src = _find_source(name, sources)
        if src is None:
            raise FileNotFoundError(
                f'Fashion-MNIST file {name}(.gz) found neither in '
                f'{" nor ".join(sources)} nor in {data_root}. ' +
                _HOW_TO_GET_IT)
        logger.info('Preparing %s from %s', dst, src)
        _install(src, dst, magic)
        counts.setdefault(split, {})[magic] = _check_idx(dst, magic)

    for split, by_magic in counts.items():
        n_img, n_lbl = by_magic[_IMAGE_MAGIC], by_magic[_LABEL_MAGIC]
        if n_img != n_lbl:
            raise RuntimeError(
                f'Fashion-MNIST {split} split in {data_root} has {n_img} '
                f'images but {n_lbl} labels.')
        if expected_counts is not None and n_img != expected_counts[split]:
            raise RuntimeError(
                f'Fashion-MNIST {split} split in {data_root} has {n_img} '
                f'images, expected {expected_counts[split]}. '
                'Pass expected_counts=None for a custom subset, or remove the '
                'files and prepare again. ' + _HOW_TO_GET_IT)
    return data_root
