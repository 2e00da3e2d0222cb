# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""End-to-end demo on real data: prepare Fashion-MNIST, train (or reuse) a
ResNet-34 teacher, distill a ResNet-18 student from it data-free with SSD-KD,
evaluate on the real test split, and compare with baselines.

    python tools/demo.py --minutes 10 --work-dir work_dirs/demo
"""
import argparse
import os

os.environ.setdefault('OMP_NUM_THREADS', str(os.cpu_count() or 1))

from mmengine.config import DictAction  # noqa: E402

from ssdkd_mm.experiments.demo import run_demo  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--task', choices=['cls', 'seg'], default='cls',
        help="'cls': ResNet-34 -> ResNet-18 on Fashion-MNIST (top-1); "
        "'seg': DeepLabV3 R18/2 -> R18/4 on Fashion-MNIST-Seg (mIoU)")
    parser.add_argument(
        '--work-dir', default=None,
        help='default: work_dirs/demo (cls) or work_dirs/demo_seg (seg)')
    parser.add_argument(
        '--data-root', default=None,
        help='default: data/fashion_mnist (cls) or data/fashion_mnist_seg '
        '(seg, composed from data/fashion_mnist)')
    parser.add_argument(
        '--minutes', type=float, default=10.0,
        help='distillation time per method (SSD-KD and each baseline)')
    parser.add_argument(
        '--baselines', nargs='*', default=['noise'],
        help="data-free baselines for the same time: 'noise', 'fast2'")
    parser.add_argument(
        '--real-student', action='store_true',
        help='also train the student on real data (upper bound)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override the SSD-KD config for every distillation, key=value')
    args = parser.parse_args()
    run_demo(args.work_dir, args.data_root, args.minutes, args.baselines,
             args.real_student, args.seed, args.cfg_options, args.task)


if __name__ == '__main__':
    main()
