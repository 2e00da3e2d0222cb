"""CIFAR-10/100 files in mmpretrain's pickled layout, generated."""
import os
import os.path as osp
import pickle

import numpy as np


def write_cifar(root, name, n=12, seed=0, data=None, labels=None):
    """mmpretrain's pickled CIFAR layout with random images (or ``data``:
    N×3072 uint8 rows of R, G, B planes, with ``labels``)."""
    if data is None:
        rng = np.random.default_rng(seed)
        data = rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8)
    labels = list(range(len(data))) if labels is None else list(labels)
    if name == 'cifar10':
        folder = osp.join(root, 'cifar-10-batches-py')
        files = [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']
        label_key, meta = 'labels', ('batches.meta', 'label_names', 10)
    else:
        folder = osp.join(root, 'cifar-100-python')
        files = ['train', 'test']
        label_key, meta = 'fine_labels', ('meta', 'fine_label_names', 100)
    os.makedirs(folder, exist_ok=True)
    for f in files:
        with open(osp.join(folder, f), 'wb') as fh:
            pickle.dump({'data': data, label_key: labels}, fh)
    with open(osp.join(folder, meta[0]), 'wb') as fh:
        pickle.dump({meta[1]: [f'c{i}' for i in range(meta[2])]}, fh)
    return root


#: cfg options that shrink a CIFAR SSD-KD config to a 3-iteration run
#: (warm-up 1, validation and checkpoint at the end) for the tests.
TINY_RUN = {
    'model.inversion.synth_batch_size': 8,
    'model.kd.batch_size': 4,
    'model.replay_buffer.capacity': 16,
    'warmup_iters': 1,
    'train_cfg.max_iters': 3,
    'train_cfg.val_interval': 3,
    'default_hooks.checkpoint.interval': 3,
}
