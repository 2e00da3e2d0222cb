# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Benchmark SSD-KD against Fast-2/5/10, its ablation grid and mmrazor's
DAFL, ZSKT and DFAD: same teacher, same wall-clock budget, same machine.

    python tools/benchmark.py                       # everything, 3 seeds
    python tools/benchmark.py --methods main --seeds 0 --budget 300
    python tools/benchmark.py --methods ssdkd fast2 dafl --no-overhead

Writes work_dirs/benchmark/{records.csv,records.jsonl,results.json,
accuracy_vs_time.png,benchmark.md} and, with --docs, the results section of
docs/benchmarks.md. Finished (method, seed) runs in records.jsonl are reused:
an interrupted benchmark continues where it stopped.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args(argv=None):
    from ssdkd_mm.apis.benchmark import GROUPS, METHODS
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument(
        '--methods', nargs='+', default=['all'],
        help=f'methods and/or groups {sorted(GROUPS)}; methods: '
        f'{", ".join(METHODS)}')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--budget', type=float, default=150.0,
                   help='seconds of training-loop time per run')
    p.add_argument('--points', type=float, nargs='+', default=None,
                   help='snapshot times in seconds (default: 1/3 and 2/3 '
                   'of the budget; the end is always evaluated)')
    p.add_argument('--fractions', type=float, nargs='+',
                   default=[0.6, 0.7, 0.8],
                   help='time-to-accuracy targets, fractions of the teacher')
    p.add_argument('--reference', default='fast2')
    p.add_argument('--work-dir', default='work_dirs/benchmark')
    p.add_argument('--data-root', default='data/fashion_mnist')
    p.add_argument('--teacher-dir', default='work_dirs/demo/teacher',
                   help='teacher.pth + teacher.json (trained if absent)')
    p.add_argument('--docs', default=None,
                   help='also write the results section of this Markdown '
                   'file, e.g. docs/benchmarks.md')
    p.add_argument('--no-overhead', action='store_true',
                   help='skip the plugin-vs-plain-PyTorch overhead timing')
    p.add_argument('--fresh', action='store_true',
                   help='ignore finished runs in the work dir')
    args = p.parse_args(argv)
    if args.budget <= 0:
        p.error('--budget must be > 0 seconds')
    if any(not 0 < f <= 1 for f in args.fractions):
        p.error('--fractions must be in (0, 1]')
    return args


def main(argv=None):
    args = parse_args(argv)
    from ssdkd_mm.apis.benchmark import run_benchmark
    try:
        run_benchmark(
            methods=args.methods, seeds=args.seeds, budget_s=args.budget,
            points=args.points, work_dir=args.work_dir,
            data_root=args.data_root, teacher_dir=args.teacher_dir,
            fractions=args.fractions, reference=args.reference,
            overhead=not args.no_overhead, docs=args.docs,
            command='python tools/benchmark.py ' + ' '.join(
                argv if argv is not None else sys.argv[1:]),
            resume=not args.fresh)
    except ValueError as e:
        sys.exit(f'error: {e}')


if __name__ == '__main__':
    main()
