"""--resume survives a damaged newest checkpoint and a moved work
directory; a teacher checkpoint of another architecture stops in a few
lines (issue: "Resume survives a damaged or moved work directory")."""
import os.path as osp
import shutil
import signal

import pytest
import torch
from _tiny_ssdkd import assert_resumed_from, train, write_tiny_config

from ssdkd_mm.engine.resume import (ResumeError, checkpoint_problem,
                                    resolve_resume)

MAX_ITERS = 8


def killed_run(tmp_path, at):
    """A tiny run SIGKILLed after iteration ``at`` (checkpoints every 2
    iterations, the last two kept); returns (config, work dir)."""
    cfg = write_tiny_config(tmp_path, max_iters=MAX_ITERS, ckpt_interval=2,
                            max_keep_ckpts=2)
    work = str(tmp_path / 'work')
    out = train(cfg, work, SSDKD_KILL=f'after_iter:{at}')
    assert out.returncode == -signal.SIGKILL, out.stderr[-3000:]
    return cfg, work


def resume_and_check(cfg, work, tmp_path, expect_iter, expect_ckpt):
    # read first: the resumed run rotates it away (max_keep_ckpts=2)
    expected = torch.load(expect_ckpt, map_location='cpu', weights_only=False)
    probe = str(tmp_path / 'probe')
    out = train(cfg, work, '--resume', SSDKD_PROBE_DIR=probe)
    assert out.returncode == 0, out.stderr[-3000:]
    start = torch.load(osp.join(probe, 'state_start_rank0.pt'),
                       weights_only=False)
    assert_resumed_from(start, expected)
    assert start['iter'] == expect_iter
    end = torch.load(osp.join(probe, 'state_end_rank0.pt'),
                     weights_only=False)
    assert end['iter'] == MAX_ITERS
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read() == osp.join(work, f'iter_{MAX_ITERS}.pth')
    return out


@pytest.mark.e2e
def test_truncated_newest_checkpoint_resumes_from_the_one_before(tmp_path):
    cfg, work = killed_run(tmp_path, 6)
    newest, older = osp.join(work, 'iter_6.pth'), osp.join(work, 'iter_4.pth')
    size = osp.getsize(newest)
    with open(newest, 'r+b') as f:  # a disk fault: the file is cut short
        f.truncate(size // 2)
    assert checkpoint_problem(newest) and checkpoint_problem(older) is None
    out = resume_and_check(cfg, work, tmp_path, 4, older)
    assert 'iter_6.pth is not intact' in out.stdout + out.stderr


@pytest.mark.e2e
def test_moved_work_dir_resumes_from_its_own_checkpoint(tmp_path):
    cfg, work = killed_run(tmp_path, 4)
    copy = str(tmp_path / 'copied_work')
    shutil.copytree(work, copy)
    shutil.rmtree(work)
    with open(osp.join(copy, 'last_checkpoint')) as f:
        assert f.read() == osp.join(work, 'iter_4.pth')  # the old place
    out = resume_and_check(cfg, copy, tmp_path, 4,
                           osp.join(copy, 'iter_4.pth'))
    assert 'outside the work dir' in out.stdout + out.stderr
    assert not osp.exists(work)


def _fake_ckpt(path, iteration, **extra):
    torch.save(dict(meta=dict(iter=iteration), state_dict={},
                    message_hub={}, **extra), path)


def test_a_checkpoint_without_what_resume_reads_is_refused_in_one_line(
        tmp_path):
    """An extracted student and a plain mmengine checkpoint passed the
    archive check and failed deep inside the Runner's resume."""
    student = str(tmp_path / 'student.pth')
    torch.save(dict(meta=dict(iter=4), state_dict={}), student)
    with pytest.raises(ResumeError) as e:
        resolve_resume(str(tmp_path), student)
    assert 'extracted or plain model checkpoint' in str(e.value)
    assert 'message_hub' in str(e.value) and '\n' not in str(e.value)
    plain = str(tmp_path / 'plain.pth')
    _fake_ckpt(plain, 4)  # an mmengine runner checkpoint of another model
    assert resolve_resume(str(tmp_path), plain) == plain
    with pytest.raises(ResumeError, match='not an SSD-KD training '
                       'checkpoint: no ssdkd'):
        resolve_resume(str(tmp_path), plain, ssdkd=True)
    ours = str(tmp_path / 'ours.pth')
    _fake_ckpt(ours, 4, ssdkd={})
    assert checkpoint_problem(ours, ssdkd=True) is None


def test_checkpoints_in_the_hooks_out_dir_are_resumed(tmp_path):
    work, out = tmp_path / 'work_dirs' / 'run', tmp_path / 'ckpts'
    work.mkdir(parents=True)
    (out / 'run').mkdir(parents=True)
    ckpt = out / 'run' / 'iter_4.pth'
    _fake_ckpt(str(ckpt), 4)
    (work / 'last_checkpoint').write_text(str(ckpt))
    with pytest.raises(ResumeError, match='outside the work dir'):
        resolve_resume(str(work))
    assert resolve_resume(str(work), out_dir=str(out)) == str(ckpt)
    (work / 'last_checkpoint').unlink()  # found by its number as well
    assert resolve_resume(str(work), out_dir=str(out)) == str(ckpt)


def test_train_tool_says_in_one_line_that_a_config_is_unreadable(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT
    bad = tmp_path / 'broken.py'
    bad.write_text("_base_ = ['no_such_base.py']\nmodel = dict(\n")
    out = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools/train.py'), str(bad)],
        capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert out.returncode == 1
    assert 'Traceback' not in out.stderr, out.stderr[-2000:]
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith('error: cannot read the config') and 'broken.py' \
        in last


def test_resolve_resume_rules(tmp_path):
    work = tmp_path / 'w'
    work.mkdir()
    assert resolve_resume(str(work)) is None  # nothing yet: a fresh start
    for it in (2, 4):
        _fake_ckpt(str(work / f'iter_{it}.pth'), it)
    (work / 'last_checkpoint').write_text(str(work / 'iter_4.pth'))
    assert resolve_resume(str(work)) == str(work / 'iter_4.pth')
    (work / 'iter_4.pth').write_bytes(b'')  # damaged: the one before
    assert resolve_resume(str(work)) == str(work / 'iter_2.pth')
    with pytest.raises(ResumeError, match=r'iter_4.pth: empty file'):
        resolve_resume(str(work), str(work / 'iter_4.pth'))
    raw = (work / 'iter_2.pth').read_bytes()
    (work / 'iter_2.pth').write_bytes(raw[:len(raw) // 3])
    with pytest.raises(ResumeError) as e:
        resolve_resume(str(work))
    msg = str(e.value)
    assert 'no intact checkpoint' in msg and 'iter_2.pth' in msg \
        and 'iter_4.pth' in msg and '\n' not in msg
    # last_checkpoint outside the work dir, no such file here: say both
    (work / 'last_checkpoint').write_text('/elsewhere/iter_8.pth')
    with pytest.raises(ResumeError, match='/elsewhere/iter_8.pth.*'
                       'iter_8.pth does not exist.*--resume PATH'):
        resolve_resume(str(work))


@pytest.mark.e2e
def test_wrong_architecture_teacher_stops_in_a_few_lines(tmp_path):
    from mmrazor.registry import MODELS
    cfg = write_tiny_config(tmp_path)
    other = MODELS.build(dict(
        _scope_='mmpretrain', type='ImageClassifier',
        backbone=dict(type='ResNet_CIFAR', depth=34, in_channels=1,
                      stem_channels=4, base_channels=4),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=32)))
    torch.save(dict(state_dict=other.state_dict()),
               str(tmp_path / 'teacher.pth'))  # the config's teacher file
    out = train(cfg, str(tmp_path / 'work'))
    assert out.returncode != 0
    lines = [ln for ln in (out.stdout + out.stderr).splitlines()
             if ln.strip()]
    assert 'does not match the teacher model' in lines[-1], lines[-5:]
    assert 'unexpected keys' in lines[-1]
    assert len(lines) < 10, '\n'.join(lines)
