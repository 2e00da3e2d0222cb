import os

import pytest
from mmengine.fileio import get_file_backend

from ssdkd_mm.utils import atomic_io
from ssdkd_mm.utils.atomic_io import (ATOMIC_BACKEND, TMP_SUFFIX,
                                      atomic_write, remove_stale_tmp_files)


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / 'sub' / 'f.bin'
    atomic_write(b'old', str(path))
    atomic_write('new content', str(path))
    assert path.read_bytes() == b'new content'
    assert os.listdir(path.parent) == ['f.bin']


def test_interrupted_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / 'f.bin'
    atomic_write(b'complete', str(path))

    def killed(fd):  # the process dies after writing, before the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic_io.os, 'fsync', killed)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(b'half', str(path))
    assert path.read_bytes() == b'complete'
    assert os.listdir(tmp_path) == ['f.bin']  # the temporary file is gone


def test_stale_tmp_files_are_removed(tmp_path):
    stale = tmp_path / f'.iter_4.pth.abc{TMP_SUFFIX}'
    stale.write_bytes(b'partial')
    keep = tmp_path / 'iter_2.pth'
    keep.write_bytes(b'x')
    assert remove_stale_tmp_files(str(tmp_path)) == [str(stale)]
    assert os.listdir(tmp_path) == ['iter_2.pth']


def test_mmengine_backend_by_name(tmp_path):
    backend = get_file_backend(backend_args=dict(backend=ATOMIC_BACKEND))
    path = str(tmp_path / 'a.txt')
    backend.put(b'bytes', path)
    assert backend.get(path) == b'bytes'
    backend.put_text('text', path)
    assert backend.get_text(path) == 'text'
