"""Tiny generated Fashion-MNIST-format IDX files for tests."""
import os

import numpy as np


def write_idx_set(root, n_train=20, n_test=20, seed=0):
    """Write the four un-gzipped IDX files mmpretrain's FashionMNIST reads;
    test images are labelled, so the val pipeline and Accuracy run."""
    rng = np.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    for prefix, n in (('train', n_train), ('t10k', n_test)):
        imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        with open(os.path.join(root, f'{prefix}-images-idx3-ubyte'),
                  'wb') as f:
            f.write((2051).to_bytes(4, 'big') + n.to_bytes(4, 'big') +
                    (28).to_bytes(4, 'big') + (28).to_bytes(4, 'big'))
            f.write(imgs.tobytes())
        with open(os.path.join(root, f'{prefix}-labels-idx1-ubyte'),
                  'wb') as f:
            f.write((2049).to_bytes(4, 'big') + n.to_bytes(4, 'big'))
            f.write(labels.tobytes())
    return root
