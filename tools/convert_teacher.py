# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Turn a data-free KD community teacher (CMI / Fast-DFKD / NAYER's
``cifar10_wrn40_2.pth`` & co.) into a strict-loading mmpretrain checkpoint.

    python tools/convert_teacher.py checkpoints/pretrained/cifar10_wrn40_2.pth \\
        checkpoints/cifar10_wrn40_2_mmpretrain.pth --arch wrn40_2

Architectures: resnet18, resnet34, vgg11 (VGG-11-BN), wrn16_1, wrn16_2,
wrn40_1, wrn40_2 (the names of those repositories). The classes come from
the checkpoint's classifier; the model is the one of configs/cifar/ (ResNets:
mmpretrain's ResNet_CIFAR configs).
"""
import argparse
import sys

import ssdkd_mm  # noqa: F401  (compatibility fixes + registration first)
from ssdkd_mm.models.convert import ARCHS, ConvertError, convert_checkpoint


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n'.join(__doc__.splitlines()[2:]))
    parser.add_argument('src', help="the community checkpoint (.pth)")
    parser.add_argument('dst', help='the mmpretrain checkpoint to write')
    parser.add_argument('--arch', required=True, choices=list(ARCHS),
                        help='architecture of SRC')
    args = parser.parse_args(argv)
    try:
        meta = convert_checkpoint(args.src, args.dst, args.arch)
    except (ConvertError, FileNotFoundError) as e:
        print(f'convert_teacher: {e}', file=sys.stderr)
        return 1
    print(f"wrote {args.dst}: {meta['arch']}, {meta['num_classes']} classes, "
          f"model config {meta['config']} (loads with strict=True)")
    return 0


if __name__ == '__main__':
    sys.exit(main())
