# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Reproduce the paper's CIFAR benchmark: the five teacher → student pairs
on CIFAR-10/100 with the community teachers, SSD-KD and Fast-2 (or Fast-5/
10) through the same code: Fast-k with Fast-DFKD's published recipe, SSD-KD
with ours (the configs' schedule); final and best-of-run top-1 in one table
beside the published numbers.

    python tools/reproduce_paper.py --data-root data \\
        --teachers checkpoints/pretrained [--pairs wrn40_2_wrn16_1 ...] \\
        [--datasets cifar10 cifar100] [--methods ssdkd fast2]

--data-root holds cifar10/cifar-10-batches-py and cifar100/cifar-100-python
(mmpretrain's layout, train and test: a missing file is refused before
anything runs, never downloaded); --teachers holds the CMI / Fast-DFKD
teachers under their names (cifar10_resnet34.pth, cifar100_wrn40_2.pth,
...). Rerun the same command to resume: finished runs are read back, an
interrupted one continues from its newest checkpoint. Writes
WORK_DIR/paper_table.md and WORK_DIR/paper_results.json.
"""
import argparse
import sys

import ssdkd_mm  # noqa: F401  (compatibility fixes + registration first)
from mmengine.config import DictAction

from ssdkd_mm.experiments.paper import DATASETS, PAIRS
from ssdkd_mm.engine.resume import ResumeError
from ssdkd_mm.models.convert import ConvertError
from ssdkd_mm.experiments.reproduce import (REPRO_METHODS, ReproduceError,
                                     reproduce)
from ssdkd_mm.utils import register_all_modules


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n'.join(__doc__.splitlines()[2:]))
    parser.add_argument('--data-root', required=True,
                        help='folder holding cifar10/ and cifar100/')
    parser.add_argument('--teachers', required=True,
                        help='folder of the community teacher checkpoints')
    parser.add_argument('--pairs', nargs='+', default=['all'],
                        help=f'pairs (default all): {", ".join(PAIRS)}')
    parser.add_argument('--datasets', nargs='+', default=list(DATASETS),
                        choices=list(DATASETS))
    parser.add_argument('--methods', nargs='+', default=['ssdkd', 'fast2'],
                        choices=list(REPRO_METHODS))
    parser.add_argument('--work-dir', default='work_dirs/reproduce_paper')
    parser.add_argument('--dry-run', action='store_true',
                        help='check the inputs, print the runs, run nothing')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of every run, key=value')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    register_all_modules(init_default_scope=False)
    try:
        out = reproduce(args.data_root, args.teachers, args.pairs,
                        args.datasets, args.methods, args.work_dir,
                        args.cfg_options, args.dry_run)
    except (ReproduceError, ConvertError, FileNotFoundError,
            ResumeError) as e:
        # refusals with their fix; any other error (a CUDA RuntimeError)
        # propagates with its traceback
        print(f'reproduce_paper: {e}', file=sys.stderr)
        return 1
    if args.dry_run:
        for job in out['planned']:
            state = 'done' if job['done'] else 'to run'
            print(f"{job['dataset']:9s} {job['pair']:18s} "
                  f"{job['method']:7s} {state:7s} {job['work_dir']}")
        return 0
    with open(f'{args.work_dir}/paper_table.md') as f:
        print(f.read())
    return 0


if __name__ == '__main__':
    sys.exit(main())
