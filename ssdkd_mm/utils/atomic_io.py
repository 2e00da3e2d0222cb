# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Crash-safe local files: a kill never leaves a truncated file behind."""
import contextlib
import glob
import os
import os.path as osp
import tempfile
from typing import List, Union

from mmengine.fileio import LocalBackend, register_backend

# Temporary files are named `.<target>.<random>` + TMP_SUFFIX, next to the
# target (os.replace is atomic only within one file system).
TMP_SUFFIX = '.ssdkd-tmp'
ATOMIC_BACKEND = 'ssdkd_atomic_local'


def _fsync_dir(path: str) -> None:
    """Persist a rename: fsync the directory entry (no-op where the OS does
    not allow opening directories, e.g. Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(data: Union[bytes, str], path: str) -> None:
    """Write ``data`` to ``path`` all-or-nothing.

    The bytes go to a temporary file in the same directory, which is flushed,
    ``fsync``-ed and then renamed over ``path`` with :func:`os.replace`. A
    process killed at any point leaves ``path`` with either its previous or
    its new complete content, plus at most a stray temporary file (see
    :func:`remove_stale_tmp_files`).

    Args:
        data (bytes | str): Content; ``str`` is written as UTF-8.
        path (str): Target file; its directory is created if needed.
    """
    if isinstance(data, str):
        data = data.encode('utf-8')
    path = osp.abspath(path)
    directory = osp.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f'.{osp.basename(path)}.', suffix=TMP_SUFFIX, dir=directory)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600 files; give the usual umask permissions.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _fsync_dir(directory)


def remove_stale_tmp_files(directory: str) -> List[str]:
    """Delete temporary files left in ``directory`` by a killed
    :func:`atomic_write`; returns their paths."""
    stale = glob.glob(osp.join(glob.escape(directory), '.*' + TMP_SUFFIX))
    for path in stale:
        with contextlib.suppress(OSError):
            os.remove(path)
    return stale


@register_backend(ATOMIC_BACKEND, force=True)
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend whose writes are atomic
    (:func:`atomic_write`); select it with
    ``backend_args=dict(backend='ssdkd_atomic_local')``."""

    def put(self, obj: bytes, filepath) -> None:
        atomic_write(obj, str(filepath))

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write(obj.encode(encoding), str(filepath))
