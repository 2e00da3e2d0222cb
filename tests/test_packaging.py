"""A non-editable install: build the wheel, install it into a fresh venv
(offline, reusing the already installed stack through a .pth), resolve an
``ssdkd_mm::`` base from the installed ``.mim`` and train a few iterations
with ``python -m ssdkd_mm train`` from a folder outside the checkout.
Building the wheel leaves the checkout's ``.mim`` linked (an editable
install must not read stale copies)."""
import os
import os.path as osp
import shutil
import subprocess
import sys
import sysconfig
import textwrap

import pytest
from conftest import ROOT


def _copy_checkout(dst):
    files = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard'],
                           cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    for f in files:
        if osp.isfile(osp.join(ROOT, f)):
            os.makedirs(osp.dirname(osp.join(dst, f)), exist_ok=True)
            shutil.copy2(osp.join(ROOT, f), osp.join(dst, f))
    return dst


def _build_wheel(src, out):
    proc = subprocess.run(
        [sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-index',
         '--no-build-isolation', '-w', out, src],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    wheels = [f for f in os.listdir(out) if f.endswith('.whl')]
    assert len(wheels) == 1, wheels
    return osp.join(out, wheels[0])


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('wheel')
    src = _copy_checkout(str(tmp / 'src'))
    # a checkout with an editable install has .mim links (setup.py develop)
    subprocess.run([sys.executable, 'setup.py', '-q', 'egg_info'], cwd=src,
                   check=True, capture_output=True)
    assert osp.islink(osp.join(src, 'ssdkd_mm/.mim/configs'))
    return src, _build_wheel(src, str(tmp / 'dist'))


@pytest.mark.e2e
def test_building_a_wheel_leaves_the_checkout_linked(wheel):
    src, whl = wheel
    for name in ('configs', 'tools', 'model-index.yml'):
        assert osp.islink(osp.join(src, 'ssdkd_mm/.mim', name)), name
    import zipfile
    names = zipfile.ZipFile(whl).namelist()
    assert 'ssdkd_mm/.mim/configs/ssdkd/_base_/ssdkd_cls.py' in names
    assert 'ssdkd_mm/.mim/tools/train.py' in names
    assert 'ssdkd_mm/__main__.py' in names
    entry = [n for n in names if n.endswith('entry_points.txt')]
    text = zipfile.ZipFile(whl).read(entry[0]).decode()
    assert 'ssdkd_mm = ssdkd_mm.cli:main' in text


@pytest.mark.e2e
def test_installed_wheel_trains_from_a_folder_outside_the_checkout(
        wheel, tmp_path):
    from _fmnist_fake import write_idx_set
    _, whl = wheel
    venv = str(tmp_path / 'venv')
    base = getattr(sys, '_base_executable', sys.executable)
    subprocess.run([base, '-m', 'venv', '--without-pip', venv], check=True)
    vpy = osp.join(venv, 'bin', 'python')
    site = subprocess.run(
        [vpy, '-c', 'import sysconfig; print(sysconfig.get_paths()'
         "['purelib'])"], capture_output=True, text=True,
        check=True).stdout.strip()
    # the tested stack, reused (a .pth path is not a site dir: the
    # checkout's editable finder there is not loaded)
    with open(osp.join(site, 'stack.pth'), 'w') as f:
        f.write(sysconfig.get_paths()['purelib'] + '\n')
    # --ignore-installed: pip would otherwise uninstall the running
    # environment's (editable) ssdkd_mm first
    proc = subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '--no-index', '--no-deps',
         '--ignore-installed', '--prefix', venv, whl],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    work = tmp_path / 'project'
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    check = subprocess.run(
        [vpy, '-c', textwrap.dedent("""\
            import os.path as osp, ssdkd_mm
            from mmengine.config import Config
            path, _ = Config._get_cfg_path(
                'ssdkd_mm::ssdkd/_base_/ssdkd_cls.py', '')
            print(osp.realpath(ssdkd_mm.__file__))
            print(osp.realpath(path))""")],
        cwd=str(work), env=env, capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stderr[-3000:]
    pkg, base_cfg = check.stdout.strip().splitlines()[-2:]
    assert pkg.startswith(osp.realpath(venv)), pkg
    assert base_cfg.startswith(osp.realpath(site)) and '.mim' in base_cfg
    data = write_idx_set(str(work / 'fm'))
    (work / 'fm_data.py').write_text(textwrap.dedent(f"""\
        data_preprocessor = dict(num_classes=10, mean=[72.9] * 3,
                                 std=[90.0] * 3)
        val_dataloader = dict(batch_size=8, num_workers=0, dataset=dict(
            type='FashionMNIST', data_root={data!r}, test_mode=True,
            pipeline=[dict(type='PackInputs')]),
            sampler=dict(type='DefaultSampler', shuffle=False))
        test_dataloader = val_dataloader
        val_evaluator = dict(type='Accuracy', topk=(1, ))
        test_evaluator = val_evaluator
        """))
    (work / 'my_ssdkd.py').write_text(textwrap.dedent("""\
        _base_ = ['./fm_data.py', 'ssdkd_mm::ssdkd/_base_/ssdkd_cls.py']
        img_size = 28
        model = dict(
            teacher=dict(
                cfg_path='mmpretrain::resnet/resnet18_8xb16_cifar10.py'),
            architecture=dict(
                cfg_path='mmpretrain::resnet/resnet18_8xb16_cifar10.py'),
            teacher_ckpt=None, replay_buffer=dict(capacity=8))
        """))
    run = subprocess.run(
        [vpy, '-m', 'ssdkd_mm', 'train', 'my_ssdkd.py', '--cfg-options',
         'train_cfg.max_iters=3', 'train_cfg.val_interval=3',
         'warmup_iters=1', 'model.inversion.synth_batch_size=4',
         'model.kd.batch_size=4', 'default_hooks.checkpoint.interval=3'],
        cwd=str(work), env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert osp.isfile(work / 'work_dirs' / 'my_ssdkd' / 'iter_3.pth')
    from importlib import metadata
    url = metadata.distribution('ssdkd_mm').read_text('direct_url.json')
    assert '"editable": true' in url  # this environment's install is kept
