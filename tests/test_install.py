"""What installing ssdkd_mm declares and the launch scripts it ships: the
Python floor, setuptools<81 (mmengine's ``pkg::`` paths need
pkg_resources), tools/slurm_train.sh."""
import configparser
import os
import os.path as osp
import stat
import subprocess
import sys

import pytest
from conftest import ROOT

sys.path.insert(0, ROOT)
from setup import parse_requirements  # noqa: E402


def test_runtime_requirements_declare_setuptools_below_81():
    reqs = parse_requirements(osp.join(ROOT, 'requirements/runtime.txt'))
    assert 'setuptools<81' in [r.replace(' ', '') for r in reqs]


def test_python_floor_is_the_tested_one():
    cfg = configparser.ConfigParser()
    cfg.read(osp.join(ROOT, 'setup.cfg'))
    assert cfg['options']['python_requires'].split('\n')[-1] == '>=3.11'
    readme = open(osp.join(ROOT, 'README.md')).read()
    assert 'Python ≥ 3.11' in readme and 'Python ≥ 3.8' not in readme
    assert sys.version_info >= (3, 11)  # the floor the suite runs on


def test_slurm_train_starts_one_train_task_per_gpu(tmp_path):
    fake = tmp_path / 'bin'
    fake.mkdir()
    log = tmp_path / 'srun_args'
    srun = fake / 'srun'
    srun.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {log}\n')
    srun.chmod(srun.stat().st_mode | stat.S_IEXEC)
    env = dict(os.environ, PATH=f'{fake}:{os.environ["PATH"]}', GPUS='16',
               GPUS_PER_NODE='8', PYTHON='python3')
    proc = subprocess.run(
        ['bash', osp.join(ROOT, 'tools/slurm_train.sh'), 'gpu', 'job1',
         'my_cfg.py', 'work_dirs/x', '--resume'],
        env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    args = log.read_text().splitlines()
    assert args[:2] == ['-p', 'gpu']
    for a in ('--job-name=job1', '--ntasks=16', '--ntasks-per-node=8',
              '--gres=gpu:8', '--work-dir=work_dirs/x', '--launcher=slurm',
              'my_cfg.py', '--resume'):
        assert a in args, (a, args)
    train = args[args.index('python3') + 2]
    assert osp.realpath(train) == osp.join(ROOT, 'tools', 'train.py')


def _fake_bin(tmp_path, uid):
    """PATH holding an `id` that reports ``uid`` and a sudo / apt-get that
    record their call in ``calls``."""
    fake = tmp_path / 'bin'
    fake.mkdir()
    calls = tmp_path / 'calls'
    for name, body in (('id', f'echo {uid}'),
                       ('sudo', f'echo sudo "$@" >> {calls}'),
                       ('apt-get', f'echo apt-get "$@" >> {calls}')):
        path = fake / name
        path.write_text(f'#!/bin/sh\n{body}\n')
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return f'{fake}:{os.environ["PATH"]}', calls


@pytest.mark.parametrize('present', [True, False])
def test_setup_env_asks_for_root_only_when_the_data_is_missing(
        tmp_path, present):
    data = tmp_path / 'fashion-mnist'
    if present:
        data.mkdir()
        (data / 'train-images-idx3-ubyte.gz').write_bytes(b'x')
    path, calls = _fake_bin(tmp_path, 1000)  # not root
    proc = subprocess.run(
        ['bash', osp.join(ROOT, 'tools/setup_env.sh'), '--only', 'data'],
        env=dict(os.environ, PATH=path, FASHION_MNIST_DIR=str(data)),
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    if present:
        assert not calls.exists()
    else:
        assert 'apt-get install -y -qq dataset-fashion-mnist' in \
            calls.read_text()


def test_run_tests_provisions_data_separately():
    text = open(osp.join(ROOT, 'tools/run_tests.sh')).read()
    assert 'setup_env.sh --only venv' in text
    assert 'setup_env.sh --only data' in text and '--with-data' not in text


def test_nothing_shipped_cites_notes_outside_the_repository():
    """The research notes are not in the repository: code and docs cite
    public sources or the project's own docs."""
    files = subprocess.run(['git', 'ls-files'], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split()
    needle = 'shared/' + 'research'
    citing = [f for f in files if f.endswith(('.py', '.md', '.sh'))
              and needle in open(osp.join(ROOT, f)).read()]
    assert citing == []
