# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Write a student-only checkpoint that plain mmpretrain/mmseg tools load.

    python tools/extract_student.py work_dirs/x/iter_3020.pth student.pth
"""
import argparse

from ssdkd_mm.apis import extract_student


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='SSD-KD training checkpoint')
    parser.add_argument('dst', help='student checkpoint to write')
    args = parser.parse_args()
    n = extract_student(args.src, args.dst)
    print(f'wrote {n} student tensors to {args.dst}')


if __name__ == '__main__':
    main()
