# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Compose Fashion-MNIST-Seg (real garments on 64x64 canvases, per-pixel
labels) where the configs under configs/fashion_mnist_seg read it.

    python tools/prepare_fashion_mnist_seg.py [--out-root data/fashion_mnist_seg]
        [--fashion-mnist-root data/fashion_mnist] [--source DIR]
"""
import argparse

from ssdkd_mm.datasets.fashion_mnist import DEBIAN_FASHION_MNIST_DIR
from ssdkd_mm.datasets.fashion_mnist_seg import (FASHION_MNIST_SEG_COUNTS,
                                                 prepare_fashion_mnist_seg)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out-root', default='data/fashion_mnist_seg')
    parser.add_argument(
        '--fashion-mnist-root', default='data/fashion_mnist',
        help='where Fashion-MNIST is (or gets) unpacked')
    parser.add_argument(
        '--source', default=None,
        help='directory with the four IDX files (default: '
        f'{DEBIAN_FASHION_MNIST_DIR}, apt-get install dataset-fashion-mnist)')
    parser.add_argument('--train', type=int,
                        default=FASHION_MNIST_SEG_COUNTS['train'])
    parser.add_argument('--test', type=int,
                        default=FASHION_MNIST_SEG_COUNTS['test'])
    parser.add_argument('--size', type=int, default=64)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    try:
        root = prepare_fashion_mnist_seg(
            args.out_root, args.fashion_mnist_root, args.source,
            counts=dict(train=args.train, test=args.test), size=args.size,
            seed=args.seed)
    except (FileNotFoundError, RuntimeError, ValueError) as e:
        raise SystemExit(f'error: {e}')
    print(f'Fashion-MNIST-Seg is ready in {root}')


if __name__ == '__main__':
    main()
