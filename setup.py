# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Build script for ssdkd_mm. Static metadata lives in setup.cfg."""
import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))
# What `mim` looks for inside an installed OpenMMLab package.
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def parse_requirements(fname):
    """Read a pip requirements file into a list for ``install_requires``.

    ``-r other.txt`` lines are followed (relative to ``fname``); other pip
    options (``-c``, ``--index-url``...) and comments are dropped.
    """
    requirements = []
    with open(fname) as f:
        for line in f:
            line = line.split(' #')[0].split('\t#')[0].strip()
            if not line or line.startswith('#'):
                continue
            if line.startswith(('-r ', '--requirement ')):
                nested = line.split(maxsplit=1)[1]
                requirements += parse_requirements(
                    osp.join(osp.dirname(fname), nested))
            elif not line.startswith('-'):
                requirements.append(line)
    return requirements


def _remove(path):
    # A link must go by itself: rmtree on it would empty the linked folder.
    if osp.islink(path) or osp.isfile(path):
        os.remove(path)
    elif osp.isdir(path):
        shutil.rmtree(path)


def add_mim_extension(copy=None):
    """Put configs/, tools/ and model-index.yml into ssdkd_mm/.mim/.

    Wheels and sdists get copies. Every other invocation from a source
    checkout (``develop``, a PEP 660 ``pip install -e .`` whose setup.py
    calls say ``egg_info``/``editable_wheel``, ...) gets relative symlinks so
    the installed package sees edits; where symlinks are not allowed, copies.
    Sources that do not exist (a build from an sdist, which already carries
    ``.mim``) are left alone.
    """
    if copy is None:
        copy = any(cmd in sys.argv for cmd in ('bdist_wheel', 'sdist'))
    mim_dir = osp.join(HERE, 'ssdkd_mm', '.mim')
    os.makedirs(mim_dir, exist_ok=True)
    for name in MIM_FILES:
        src = osp.join(HERE, name)
        if not osp.exists(src):
            continue
        dst = osp.join(mim_dir, name)
        _remove(dst)
        if not copy:
            try:
                os.symlink(osp.relpath(src, mim_dir), dst)
                continue
            except (OSError, NotImplementedError):
                pass  # e.g. Windows without symlink rights
        if osp.isdir(src):
            shutil.copytree(
                src,
                dst,
                ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)


if __name__ == '__main__':
    add_mim_extension()
    requirements = osp.join(HERE, 'requirements')
    runtime = parse_requirements(osp.join(requirements, 'runtime.txt'))
    optional = parse_requirements(osp.join(requirements, 'optional.txt'))
    tests = parse_requirements(osp.join(requirements, 'tests.txt'))
    setup(
        packages=find_packages(
            exclude=('configs', 'configs.*', 'tools', 'tools.*', 'tests',
                     'tests.*', 'docs', 'docs.*')),
        include_package_data=True,
        install_requires=runtime,
        extras_require={
            'all': runtime + optional + tests,
            'optional': optional,
            'tests': tests,
            'mim': parse_requirements(osp.join(requirements, 'mminstall.txt')),
        },
        zip_safe=False)
    if any(cmd in sys.argv for cmd in ('bdist_wheel', 'sdist')):
        # the wheel/sdist has its copies: link the checkout's .mim again,
        # so that an editable install does not read stale configs
        add_mim_extension(copy=False)
