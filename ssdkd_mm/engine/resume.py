# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Which checkpoint ``tools/train.py --resume`` continues from.

mmengine's resume reads ``<work_dir>/last_checkpoint`` and loads the file
it names. Two routine faults break that: a damaged newest checkpoint (a
disk error, an interrupted copy) ends in a torch traceback although an
older intact one is kept, and a copied or moved work directory resumes
from the *original* location, since ``last_checkpoint`` holds an absolute
path. :func:`resolve_resume` picks the newest intact checkpoint of the work
directory itself, and says in one line what it skipped or why it cannot.
A checkpoint is intact when its archive is (every member's CRC) *and* it
holds what resuming reads: ``meta`` with ``iter``, ``state_dict``,
``message_hub`` and, for an SSD-KD run, ``ssdkd`` (buffer, sampler,
generator state); an extracted student or a plain mmengine checkpoint is
refused in one line instead of failing deep in the Runner. With a
checkpoint ``out_dir`` (``default_hooks.checkpoint.out_dir``), files under
it are this run's too.
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


#: What mmengine's ``Runner.resume`` reads from a checkpoint.
RESUME_KEYS = ('meta', 'state_dict', 'message_hub')


def _missing_keys(path: str, ssdkd: bool) -> Optional[str]:
    import torch
    try:  # memory-mapped: the tensors are not read
        ckpt = torch.load(path, map_location='cpu', weights_only=False,
                          mmap=True)
    except Exception as e:  # torch/pickle raise many different types
        return f'does not load ({type(e).__name__}: {str(e)[:80]})'
    if not isinstance(ckpt, dict):
        return f'not a runner checkpoint (a {type(ckpt).__name__})'
    need = RESUME_KEYS + (('ssdkd', ) if ssdkd else ())
    missing = [k for k in need if k not in ckpt]
    if not missing and 'iter' not in (ckpt.get('meta') or {}):
        missing = ['meta.iter']
    if missing:
        kind = ('an extracted or plain model checkpoint' if 'message_hub'
                in missing else 'not an SSD-KD training checkpoint'
                if missing == ['ssdkd'] else 'incomplete')
        return f'{kind}: no {", ".join(missing)} to resume from'
    return None


def checkpoint_problem(path: str, ssdkd: bool = False) -> Optional[str]:
    """Why ``path`` is not a complete checkpoint file to resume from, or
    None.

    A torch checkpoint is a zip archive: every member's CRC is checked and
    the pickle must be there, so a truncated or corrupted file is caught;
    then the keys resuming reads (:data:`RESUME_KEYS`, and ``ssdkd`` when
    ``ssdkd``) must be in it. Other (legacy) files must load with torch."""
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
    return _missing_keys(path, ssdkd)


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


def _latest(work_dir: str, out_dir: Optional[str] = None) -> Optional[str]:
    """The file ``last_checkpoint`` names, as a path inside ``work_dir``
    (or ``out_dir``, where the checkpoint hook writes)."""
    record = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(record):
        return None
    with open(record) as f:
        named = f.read().strip()
    if not named:
        return None
    if not osp.isabs(named):
        named = osp.join(work_dir, named)
    if _inside(named, work_dir) or (out_dir and _inside(named, out_dir)):
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


def resolve_resume(work_dir: str,
                   resume: str = 'auto',
                   out_dir: Optional[str] = None,
                   ssdkd: bool = False) -> Optional[str]:
    """The checkpoint to resume from.

    Args:
        work_dir (str): The run's work directory.
        out_dir (str, optional): The checkpoint hook's ``out_dir`` (its
            files are in ``out_dir/<work dir name>``).
        ssdkd (bool): An SSD-KD run: checkpoints must hold its state.
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
        problem = checkpoint_problem(resume, ssdkd)
        if problem:
            raise ResumeError(f'cannot resume from {resume}: {problem}')
        return resume
    if not osp.isdir(work_dir):
        return None
    candidates = []
    if out_dir and '://' not in str(out_dir):
        out_dir = osp.join(out_dir, osp.basename(work_dir.rstrip(os.sep)))
    else:
        out_dir = None
    latest = _latest(work_dir, out_dir)
    if latest is not None:
        candidates.append(latest)
    numbered = _numbered(work_dir) + (_numbered(out_dir) if out_dir and
                                      osp.isdir(out_dir) else [])
    candidates += [p for _, p in sorted(numbered, reverse=True)
                   if latest is None or osp.realpath(p) != osp.realpath(
                       latest)]
    tried = []
    for path in candidates:
        problem = checkpoint_problem(path, ssdkd)
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
