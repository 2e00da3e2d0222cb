# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Unpack Fashion-MNIST where the configs' ``FashionMNIST`` dataset reads it.

    python tools/prepare_fashion_mnist.py [--data-root data/fashion_mnist]
                                          [--source DIR]
"""
import argparse
import logging

from ssdkd_mm.datasets.fashion_mnist import (DEBIAN_FASHION_MNIST_DIR,
                                             prepare_fashion_mnist)


def parse_args():
    parser = argparse.ArgumentParser(
        description='Prepare Fashion-MNIST for mmpretrain (offline).')
    parser.add_argument(
        '--data-root',
        default='data/fashion_mnist',
        help='directory the dataset configs read (their `data_root`)')
    parser.add_argument(
        '--source',
        default=None,
        help='directory with the four IDX files, gzipped or not '
        f'(default: {DEBIAN_FASHION_MNIST_DIR}, from `apt-get install '
        'dataset-fashion-mnist`)')
    parser.add_argument(
        '--any-size',
        action='store_true',
        help='accept splits of any size, not only 60000/10000')
    return parser.parse_args()


def main():
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    kwargs = dict(expected_counts=None) if args.any_size else {}
    try:
        root = prepare_fashion_mnist(args.data_root, args.source, **kwargs)
    except (FileNotFoundError, RuntimeError) as e:
        raise SystemExit(f'error: {e}')  # the message names the fix
    print(f'Fashion-MNIST is ready in {root}')


if __name__ == '__main__':
    main()
