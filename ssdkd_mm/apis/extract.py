# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Turn an SSD-KD training checkpoint into a plain student checkpoint."""
from collections import OrderedDict

import torch

PREFIX = 'architecture.'


def extract_student(src: str, dst: str) -> int:
    """Keep only the student (``architecture.*``) weights of ``src``.

    The result is a regular mmengine checkpoint (``state_dict`` + ``meta``)
    that mmpretrain's tools, ``init_model`` and inferencers load with the
    student's own config. Teacher, generator and the ``ssdkd`` replay state
    are dropped.

    Returns:
        int: The number of tensors written.
    """
    # Our own runner checkpoint (HistoryBuffer, numpy): trusted local file.
    ckpt = torch.load(src, map_location='cpu', weights_only=False)
    state = ckpt.get('state_dict', ckpt)
    student = OrderedDict((k[len(PREFIX):], v) for k, v in state.items()
                          if k.startswith(PREFIX))
    if not student:
        raise ValueError(f'{src} has no "{PREFIX}*" weights; is it an SSD-KD '
                         'training checkpoint?')
    meta = dict(ckpt.get('meta', {}))
    meta.pop('dataset_meta', None)
    meta['extracted_from'] = src
    torch.save(dict(state_dict=student, meta=meta), dst)
    return len(student)
