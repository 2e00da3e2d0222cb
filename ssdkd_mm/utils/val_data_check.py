# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""A clear error when the real val set SSD-KD evaluates on is missing."""
import os.path as osp
from typing import List


def _local(path) -> bool:
    return isinstance(path, str) and bool(path) and '://' not in path


def missing_val_paths(dataloader) -> List[str]:
    """Local ``data_root`` / ``ann_file`` paths of a val dataloader config
    that do not exist (empty when the config is not a dict, e.g. a built
    dataloader, or when nothing local is named)."""
    if not isinstance(dataloader, dict):
        return []
    dataset = dataloader.get('dataset')
    if not isinstance(dataset, dict):
        return []
    # Dataset wrappers (RepeatDataset, ...) hold the real one in `dataset`.
    while isinstance(dataset.get('dataset'), dict):
        dataset = dataset['dataset']
    root, ann = dataset.get('data_root'), dataset.get('ann_file')
    paths = []
    if _local(root):
        paths.append(root)
    if _local(ann):
        paths.append(ann if osp.isabs(ann) or not _local(root) else osp.join(
            root, ann))
    return [p for p in paths if not osp.exists(osp.expanduser(p))]


def check_val_data(dataloader) -> None:
    """Raise ``FileNotFoundError`` naming the missing val files.

    SSD-KD trains without real data but evaluates the student (and the
    teacher, once) on the real val set; a missing one otherwise shows up as
    a dataset-specific error (or a failed download) deep in the Runner.

    Args:
        dataloader (dict): The ``val_dataloader`` config.
    """
    missing = missing_val_paths(dataloader)
    if missing:
        raise FileNotFoundError(
            f'Validation data not found: {", ".join(missing)}. SSD-KD trains '
            'data-free but evaluates on the real val set: put it there, point '
            '`val_dataloader.dataset.data_root` at it, or train without '
            'validation (--cfg-options val_cfg=None val_dataloader=None '
            'val_evaluator=None).')
