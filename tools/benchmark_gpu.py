# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""GPU timing of SSD-KD's two costs on the paper's CIFAR shapes (not run by
the tests): a KD step and a g=2 synthesis round of ``SSDKDDistillation``
(ResNet-34 -> ResNet-18, random weights, 3x32x32, batch 256), in fp32 and in
bf16 autocast + channels-last, CUDA-synchronised, median of ``--iters``
after ``--warmup``. The code is :mod:`ssdkd_mm.experiments.gpu_bench`.

    python tools/benchmark_gpu.py --docs docs/benchmarks.md

Writes work_dirs/benchmark_gpu/results.json and appends a table naming the
device to the Markdown file given with --docs.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='SSD-KD GPU timing')
    p.add_argument('--device', default='cuda')
    p.add_argument('--batch', type=int, default=256)
    p.add_argument('--iters', type=int, default=30)
    p.add_argument('--warmup', type=int, default=5)
    p.add_argument('--out', default='work_dirs/benchmark_gpu')
    p.add_argument('--docs', default=None)
    p.add_argument('--allow-cpu', action='store_true',
                   help='run on CPU (a smoke test of this script only)')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from ssdkd_mm.experiments.gpu_bench import DeviceError, run_gpu_benchmark
    try:
        run_gpu_benchmark(
            device=args.device, batch=args.batch, iters=args.iters,
            warmup=args.warmup, out=args.out, docs=args.docs,
            allow_cpu=args.allow_cpu)
    except DeviceError as e:
        sys.exit(f'error: {e}')


if __name__ == '__main__':
    main()
