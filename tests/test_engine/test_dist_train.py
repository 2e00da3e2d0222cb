"""tools/dist_train.sh with 2 processes on the CPU (gloo): one replicated
global replay buffer, one generator, and a resume that restores them."""
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch
from _tiny_ssdkd import (ROOT, assert_resumed_from, assert_same, child_env,
                         write_tiny_config)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def dist_train(cfg, work_dir, probe_dir, *args):
    env = child_env(SSDKD_PROBE_DIR=probe_dir, PYTHON=sys.executable,
                    PORT=free_port())
    proc = subprocess.run(
        ['bash', osp.join(ROOT, 'tools/dist_train.sh'), cfg, '2',
         '--work-dir', work_dir, *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def load(path):
    return torch.load(path, map_location='cpu', weights_only=False)


def states(probe_dir, when):
    return [load(osp.join(probe_dir, f'state_{when}_rank{r}.pt'))
            for r in (0, 1)]


def same_across_ranks(s0, s1):
    for key in ('iter', 'buffer', 'sampler', 'generator', 'student',
                'optimizer', 'param_schedulers'):
        assert_same(s0[key], s1[key], key)
    assert_same(s0['ssdkd']['synthesizer']['bn_loss'],
                s1['ssdkd']['synthesizer']['bn_loss'],
                'bn_ema')


@pytest.mark.e2e
def test_two_process_training_replicates_buffer_and_resumes(tmp_path):
    cfg = write_tiny_config(tmp_path, max_iters=8, ckpt_interval=4)
    work = str(tmp_path / 'work')
    dist_train(cfg, work, str(tmp_path / 'run1'))
    end0, end1 = states(str(tmp_path / 'run1'), 'end')
    same_across_ranks(end0, end1)
    buf = end0['buffer']
    # 5 rounds (iters 0, 1, 2, 4, 6) × 8 images on each of the 2 ranks
    assert buf['n_inserted_total'] == 80 and buf['size'] == 24
    # different noise per rank: no image is in the buffer twice
    assert buf['images'].flatten(1).unique(dim=0).shape[0] == 24

    # Resume both ranks from iteration 4: both start from the checkpoint.
    ckpt_path = osp.join(work, 'iter_4.pth')
    dist_train(cfg, work, str(tmp_path / 'run2'), '--resume', ckpt_path)
    ckpt = load(ckpt_path)
    for start in states(str(tmp_path / 'run2'), 'start'):
        assert_resumed_from(start, ckpt)
    end0, end1 = states(str(tmp_path / 'run2'), 'end')
    same_across_ranks(end0, end1)
    assert end0['iter'] == 8 and end0['buffer']['n_inserted_total'] == 80
