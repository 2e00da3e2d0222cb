# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Which checkpoint ``tools/train.py --resume`` continues from.

mmengine's resume reads ``<work_dir>/last_checkpoint`` and loads the file
it names. Two routine faults break that: a damaged newest checkpoint (a
disk error, an interrupted copy) ends in a torch traceback although an
older intact one is kept, and a copied or moved work directory resumes
from the *original* location, since ``last_checkpoint`` holds an absolute
path. :func:`resolve_resume` picks the newest intact checkpoint of the work
directory itself, and says in one line what it skipped or why it cannot.
"""
import os
import os.path as osp
import re
import zipfile
from typing import List, Optional, Tuple

from mmengine.logging import print_log

_CKPT_NAME = re.compile(r'^(?:iter|epoch)_(\d+)\.pth$')


class ResumeError(RuntimeError):
    """No checkpoint to resume from; the message names the fix."""


def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` is not a complete checkpoint file, or None.

    A torch checkpoint is a zip archive: every member's CRC is checked and
    the pickle must be there, so a truncated or corrupted file is caught
    without unpickling it. Other (legacy) files must load with torch."""
    if not osp.isfile(path):
        return 'no such file'
    if osp.getsize(path) == 0:
        return 'empty file'
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                bad = z.testzip()
                names = z.namelist()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
            return f'damaged archive ({type(e).__name__}: {e})'
        if bad is not None:
            return f'damaged archive (CRC error in {bad})'
        if not any(n.endswith('data.pkl') for n in names):
            return 'not a torch checkpoint (no data.pkl)'
        return None
    try:
        import torch
        torch.load(path, map_location='cpu', weights_only=False)
    except Exception as e:  # torch/pickle raise many different types
        return f'does not load ({type(e).__name__}: {str(e)[:80]})'
    return None


def _numbered(work_dir: str) -> List[Tuple[int, str]]:
    out = []
    for name in os.listdir(work_dir):
        m = _CKPT_NAME.match(name)
        if m:
            out.append((int(m.group(1)), osp.join(work_dir, name)))
    return sorted(out, reverse=True)


def _inside(path: str, directory: str) -> bool:
    path, directory = osp.realpath(path), osp.realpath(directory)
    return osp.commonpath([path, directory]) == directory


def _latest(work_dir: str) -> Optional[str]:
    """The file ``last_checkpoint`` names, as a path inside ``work_dir``."""
    record = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(record):
        return None
    with open(record) as f:
        named = f.read().strip()
    if not named:
        return None
    if not osp.isabs(named):
        named = osp.join(work_dir, named)
    if _inside(named, work_dir):
        return named
    local = osp.join(work_dir, osp.basename(named))
    if osp.isfile(local):
        print_log(
            f'SSD-KD resume: last_checkpoint names {named}, outside the '
            f'work dir {work_dir} (a copied or moved work dir); resuming '
            f'from this work dir\'s own {local}', logger='current')
        return local
    raise ResumeError(
        f'last_checkpoint names {named}, outside the work dir {work_dir}, '
        f'and {local} does not exist; give the checkpoint to continue '
        f'from with --resume PATH')


def resolve_resume(work_dir: str, resume: str = 'auto') -> Optional[str]:
    """The checkpoint to resume from.

    Args:
        work_dir (str): The run's work directory.
        resume (str): ``'auto'``: the newest intact checkpoint of the work
            dir (``last_checkpoint`` first, then ``iter_*/epoch_*.pth`` by
            number), skipping damaged ones with a warning; else a path,
            which must be intact.

    Returns:
        str | None: A checkpoint path; None when ``'auto'`` finds no
        checkpoint at all (the run starts from scratch, as mmengine's).

    Raises:
        ResumeError: ``resume`` is a damaged file, ``last_checkpoint``
            points outside the work dir to a file not in it, or no
            checkpoint of the work dir is intact.
    """
    if resume != 'auto':
        problem = checkpoint_problem(resume)
        if problem:
            raise ResumeError(f'cannot resume from {resume}: {problem}')
        return resume
    if not osp.isdir(work_dir):
        return None
    candidates = []
    latest = _latest(work_dir)
    if latest is not None:
        candidates.append(latest)
    candidates += [p for _, p in _numbered(work_dir)
                   if latest is None or osp.realpath(p) != osp.realpath(
                       latest)]
    tried = []
    for path in candidates:
        problem = checkpoint_problem(path)
        if problem is None:
            if tried:
                print_log(
                    f'SSD-KD resume: skipped {"; ".join(tried)}; resuming '
                    f'from {path}', logger='current', level=30)
            return path
        tried.append(f'{path} ({problem})')
        print_log(f'SSD-KD resume: {path} is not intact ({problem}); '
                  'trying the one before', logger='current', level=30)
    if tried:
        raise ResumeError(
            f'no intact checkpoint in {work_dir} to resume from; tried '
            f'{"; ".join(tried)}. Start again without --resume, or give a '
            'good checkpoint with --resume PATH')
    return None
