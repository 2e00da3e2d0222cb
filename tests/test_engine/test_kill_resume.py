"""A tools/train.py run killed with SIGKILL at a random point resumes with
--resume from exactly the state saved in the latest checkpoint and finishes.

Each trial kills the run at a random iteration, in one of three places:
before an iteration, right after an iteration (and its checkpoint), or in
the middle of writing a checkpoint (bytes written, rename not done). Set
SSDKD_KILL_TRIALS to run more trials, SSDKD_KILL_SEED to draw other points.
"""
import os
import os.path as osp
import random
import signal

import pytest
import torch
from _tiny_ssdkd import assert_resumed_from, train, write_tiny_config

from ssdkd_mm.utils.atomic_io import TMP_SUFFIX

MAX_ITERS, INTERVAL = 8, 2
TRIALS = int(os.environ.get('SSDKD_KILL_TRIALS', 3))
SEED = int(os.environ.get('SSDKD_KILL_SEED', 0))
PHASES = ('in_save', 'before_iter', 'after_iter')


def kill_point(trial):
    """(phase, iteration, iteration of the checkpoint to resume from)."""
    rng = random.Random(SEED * 1000 + trial)
    phase = PHASES[trial % len(PHASES)]
    if phase == 'in_save':  # a save that has a previous checkpoint
        at = rng.randrange(2 * INTERVAL, MAX_ITERS + 1, INTERVAL)
        return phase, at, at - INTERVAL
    at = rng.randint(INTERVAL, MAX_ITERS - 1)
    return phase, at, at // INTERVAL * INTERVAL


@pytest.mark.e2e
@pytest.mark.parametrize('trial', range(TRIALS))
def test_sigkill_then_resume(tmp_path, trial):
    phase, at, resume_iter = kill_point(trial)
    cfg = write_tiny_config(tmp_path, max_iters=MAX_ITERS,
                            ckpt_interval=INTERVAL, max_keep_ckpts=1)
    work = str(tmp_path / 'work')
    killed = train(cfg, work, SSDKD_KILL=f'{phase}:{at}')
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    if phase == 'in_save':  # killed between the write and the rename
        assert [n for n in os.listdir(work) if n.endswith(TMP_SUFFIX)]
        assert not osp.exists(osp.join(work, f'iter_{at}.pth'))

    with open(osp.join(work, 'last_checkpoint')) as f:
        latest = f.read()
    assert latest == osp.join(work, f'iter_{resume_iter}.pth')
    ckpt = torch.load(latest, map_location='cpu', weights_only=False)
    assert ckpt['meta']['iter'] == resume_iter

    probe = str(tmp_path / 'probe')
    resumed = train(cfg, work, '--resume', SSDKD_PROBE_DIR=probe)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    start = torch.load(osp.join(probe, 'state_start_rank0.pt'),
                       weights_only=False)
    assert_resumed_from(start, ckpt)
    end = torch.load(osp.join(probe, 'state_end_rank0.pt'),
                     weights_only=False)
    assert end['iter'] == MAX_ITERS
    assert end['ssdkd']['kd_steps'] == MAX_ITERS - 2  # 2 warm-up iters
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read() == osp.join(work, f'iter_{MAX_ITERS}.pth')
    assert not [n for n in os.listdir(work) if n.endswith(TMP_SUFFIX)]
