# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Compatibility fixes that let ssdkd_mm run on a current OpenMMLab stack.

``ssdkd_mm/__init__.py`` calls :func:`apply_compat_fixes` before anything
imports ``mmrazor.models``. Every fix checks whether it is needed, changes
nothing when it is not, and logs once (``print_log``) when it does change
something. ``APPLIED`` records the outcome: ``True`` when the fix is active,
``False`` before it was tried, and a string saying why it is a no-op.

Fixes (the C-numbers refer to ``research/mmrazor_internals.md`` §3):

``mmrazor_quantization`` (C1)
    mmrazor 1.0.0 builds its quantization backend configs at import time with
    names that torch 2.x removed, so ``import mmrazor.models`` and
    ``mmrazor.utils.register_all_modules`` fail with "torch>=1.13 is not
    installed properly". When the real
    ``mmrazor.structures.quantization.backend_config`` cannot be imported, a
    stub module takes its place; its ``get_*_backend_config[_dict]`` functions
    raise ``NotImplementedError`` (ssdkd_mm never quantizes). No-op when the
    real module imports (torch 1.13, or an mmrazor release that fixed it) or
    when mmrazor is not installed. ``joblib``, which ``mmrazor.models``
    imports without declaring it, is checked alongside (warning only).
``local_checkpoint_loading`` (C5)
    torch >= 2.6 defaults to ``torch.load(weights_only=True)``, and
    mmengine 0.10.7 does not pass ``weights_only``, so ``resume`` and
    ``load_from`` of runner checkpoints (they pickle ``HistoryBuffer`` and
    numpy objects) fail. The local-file scheme of mmengine's
    ``CheckpointLoader`` is replaced by :func:`load_from_local_trusted`, which
    loads with ``weights_only=False``; that unpickles arbitrary objects, so
    load only checkpoints you trust (mmengine did the same before torch 2.6).
    No-op on torch < 2.6. Remote (``http://``) checkpoints are not touched.
``mmcv_ops`` (C3)
    mmseg 1.2.2 imports ``point_sample`` and ``sigmoid_focal_loss`` from
    ``mmcv.ops`` at module level, which fails without mmcv's compiled ops
    (mmcv-lite, or an mmcv build without ``MMCV_WITH_OPS``). A stand-in
    ``mmcv.ops`` module provides pure-PyTorch versions of these two ops;
    every other op raises ``ModuleNotFoundError`` saying how to install the
    full mmcv, which is also what mmseg's own ``try/except`` guards expect.
    No-op when ``mmcv._ext`` exists or mmcv is not installed.
``config_scope``
    ``Config.fromfile`` resolves ``pkg::path`` only for the packages in
    mmengine's ``MODULE2PACKAGE`` table ("mmengine does not support to load
    ssdkd_mm config"); ``ssdkd_mm`` is added, so a user's config can inherit
    ``ssdkd_mm::ssdkd/_base_/ssdkd_cls.py`` (the file
    ``ssdkd_mm/.mim/configs/ssdkd/_base_/ssdkd_cls.py`` of the installed
    package). mmengine 0.10.7 finds an installed package's folder as
    ``<distribution location>/<name>``, which does not exist for an editable
    install (PEP 660: the location is site-packages, the code stays in the
    checkout); the config loader then falls back to the folder Python imports
    the package from (``importlib.util.find_spec``), for any package, and
    logs once when it does. Logs one line when the scope is registered.
"""
import importlib
import importlib.machinery
import importlib.util
import logging
import os.path as osp
import sys
import types
import warnings
from typing import Optional

# Two import-time warnings of the tested stack that say nothing a user can
# act on, printed (4 lines) by every command before its own output: mmengine
# imports pkg_resources (setuptools<81 is pinned for it), and mmcv-lite has
# no MultiScaleDeformableAttention (said once, as a fix below, with the
# other missing mmcv ops). Only these two messages are silenced.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated',
                        category=UserWarning)
warnings.filterwarnings(
    'ignore', message='Fail to import ``MultiScaleDeformableAttention``',
    category=UserWarning)

import torch
from mmengine.logging import print_log

from .fallback_ops import point_sample, sigmoid_focal_loss

__all__ = [
    'APPLIED', 'apply_compat_fixes', 'fix_mmrazor_quantization',
    'fix_local_checkpoint_loading', 'fix_mmcv_ops', 'fix_config_scope',
    'load_from_local_trusted',
    'point_sample', 'sigmoid_focal_loss', 'MMCV_FULL_ADVICE'
]

APPLIED = {
    'mmrazor_quantization': False,
    'local_checkpoint_loading': False,
    'mmcv_ops': False,
    'config_scope': False,
}

MMCV_FULL_ADVICE = ('install the full mmcv (MMCV_WITH_OPS=1 pip install '
                    'mmcv==2.1.0) to use it')

_LOG_PREFIX = '[ssdkd_mm.compat] '


def _log(msg: str, level: str = 'INFO') -> None:
    print_log(
        _LOG_PREFIX + msg, logger='current', level=getattr(logging, level))


def apply_compat_fixes() -> None:
    """Apply every fix that this environment needs; safe to call repeatedly."""
    fix_mmrazor_quantization()
    fix_local_checkpoint_loading()
    fix_mmcv_ops()
    fix_config_scope()


# --------------------------------------------------------------------------
# C1: mmrazor quantization on torch >= 2
# --------------------------------------------------------------------------
_QUANT_MODULE = 'mmrazor.structures.quantization.backend_config'
_BACKENDS = ('native', 'academic', 'openvino', 'tensorrt')
_QUANT_MESSAGE = ('mmrazor quantization is unavailable on torch>=2; '
                  'ssdkd_mm disabled it')


def _quantization_unavailable(*args, **kwargs):
    raise NotImplementedError(_QUANT_MESSAGE)


def _make_quantization_stub() -> types.ModuleType:
    stub = types.ModuleType(_QUANT_MODULE, _QUANT_MESSAGE)
    names = ['BackendConfigs']
    for backend in _BACKENDS:
        for suffix in ('', '_dict'):
            name = f'get_{backend}_backend_config{suffix}'
            setattr(stub, name, _quantization_unavailable)
            names.append(name)
    # mmrazor's own fallback value for torch < 1.13: no backend configured.
    stub.BackendConfigs = {backend: None for backend in _BACKENDS}
    stub.__all__ = names
    stub._ssdkd_stub = True
    return stub


def _forget_modules(prefix: str) -> None:
    for name in [m for m in sys.modules if m.startswith(prefix)]:
        del sys.modules[name]


def fix_mmrazor_quantization() -> None:
    """Stub mmrazor's quantization backend configs when they cannot import.

    The real module is imported first (it succeeds where mmrazor and torch
    agree); only its failure installs the stub, after dropping the partly
    imported ``mmrazor.structures`` modules.
    """
    if importlib.util.find_spec('mmrazor') is None:
        APPLIED['mmrazor_quantization'] = 'skipped: mmrazor is not installed'
        return
    _check_joblib()
    current = sys.modules.get(_QUANT_MODULE)
    if current is not None:
        is_stub = getattr(current, '_ssdkd_stub', False)
        APPLIED['mmrazor_quantization'] = (
            is_stub or 'not needed: the real module is imported')
        return
    try:
        importlib.import_module(_QUANT_MODULE)
    except Exception as error:  # torch API drift shows up as any error type
        if 'mmrazor' not in sys.modules:
            # mmrazor itself is broken (e.g. its mmcv version assert); the
            # stub would not help, so let the user see mmrazor's own error.
            APPLIED['mmrazor_quantization'] = (
                f'skipped: mmrazor does not import ({error!r})')
            return
        reason = f'{type(error).__name__}: {error}'
    else:
        APPLIED['mmrazor_quantization'] = ('not needed: the real module '
                                           'imports')
        return
    _forget_modules('mmrazor.structures')
    sys.modules[_QUANT_MODULE] = _make_quantization_stub()
    APPLIED['mmrazor_quantization'] = True
    _log(f'{_QUANT_MODULE} fails to import with torch {torch.__version__} '
         f'({reason}); replaced it by a stub so mmrazor.models imports. '
         f'{_QUANT_MESSAGE}.')


_joblib_warned = False


def _check_joblib() -> None:
    global _joblib_warned
    if _joblib_warned or importlib.util.find_spec('joblib') is not None:
        return
    _joblib_warned = True
    _log(
        'mmrazor.models imports joblib, which mmrazor does not declare; '
        'run "pip install joblib".', 'WARNING')


# --------------------------------------------------------------------------
# C5: runner checkpoints with torch >= 2.6 (weights_only=True by default)
# --------------------------------------------------------------------------
def load_from_local_trusted(filename: str,
                            map_location: Optional[str] = None) -> dict:
    """Load a local checkpoint with ``torch.load(weights_only=False)``.

    Same contract as mmengine's ``load_from_local``; registered as the
    ``CheckpointLoader`` scheme for plain paths. Only load trusted files:
    unpickling can run arbitrary code.

    Args:
        filename (str): Path of the checkpoint file (``~`` is expanded).
        map_location (str, optional): Passed to :func:`torch.load`.

    Returns:
        dict: The loaded checkpoint.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return torch.load(filename, map_location=map_location, weights_only=False)


def fix_local_checkpoint_loading() -> None:
    """Make mmengine load local runner checkpoints on torch >= 2.6."""
    from mmengine.runner.checkpoint import CheckpointLoader
    from mmengine.utils import digit_version

    if digit_version(torch.__version__) < digit_version('2.6.0'):
        APPLIED['local_checkpoint_loading'] = (
            f'not needed: torch {torch.__version__} loads full pickles')
        return
    if CheckpointLoader._schemes.get('') is load_from_local_trusted:
        APPLIED['local_checkpoint_loading'] = True
        return
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local_trusted, force=True)
    APPLIED['local_checkpoint_loading'] = True
    _log(f'torch {torch.__version__} loads with weights_only=True by '
         'default, which rejects runner checkpoints (HistoryBuffer, numpy); '
         'local checkpoints are now loaded with weights_only=False. Load '
         'only files you trust.')


# --------------------------------------------------------------------------
# C3: mmseg without mmcv's compiled ops
# --------------------------------------------------------------------------
# point_sample and sigmoid_focal_loss: in .fallback_ops (plain torch).
_OPS_MODULE = 'mmcv.ops'
_FALLBACK_OPS = {
    'point_sample': point_sample,
    'sigmoid_focal_loss': sigmoid_focal_loss
}


def _missing_op_error(name: str) -> ModuleNotFoundError:
    return ModuleNotFoundError(
        f"{name} needs mmcv's compiled ops, but mmcv._ext is missing "
        '(mmcv-lite, or mmcv built without ops; ssdkd_mm only provides '
        f'pure-PyTorch {" and ".join(_FALLBACK_OPS)}): {MMCV_FULL_ADVICE}.',
        name='mmcv._ext')


def _ops_getattr(name: str):
    # Dunder and private look-ups must stay AttributeError (hasattr, inspect,
    # pickle rely on it); op names get ModuleNotFoundError, which is what
    # mmseg's `try: from mmcv.ops import X / except ModuleNotFoundError` and
    # mmcv's `except ImportError` guards catch.
    if name.startswith('_'):
        raise AttributeError(f'module {_OPS_MODULE!r} has no attribute '
                             f'{name!r}')
    raise _missing_op_error(f'{_OPS_MODULE}.{name}')


class _MissingOpsSubmoduleFinder:
    """Meta-path finder: ``import mmcv.ops.<x>`` explains what is missing."""

    @staticmethod
    def find_spec(fullname, path=None, target=None):
        if (fullname.startswith(_OPS_MODULE + '.') and getattr(
                sys.modules.get(_OPS_MODULE), '_ssdkd_stub', False)):
            raise _missing_op_error(fullname)
        return None


def _make_ops_stub() -> types.ModuleType:
    stub = types.ModuleType(
        _OPS_MODULE, 'ssdkd_mm stand-in for mmcv.ops without mmcv._ext: '
        f'pure-PyTorch {", ".join(_FALLBACK_OPS)} only.')
    stub.__spec__ = importlib.machinery.ModuleSpec(
        _OPS_MODULE, None, is_package=True)
    stub.__path__ = []
    stub.__all__ = list(_FALLBACK_OPS)
    stub.__dict__.update(_FALLBACK_OPS)
    stub.__getattr__ = _ops_getattr
    stub._ssdkd_stub = True
    return stub


def fix_mmcv_ops() -> None:
    """Provide ``mmcv.ops`` fallbacks for mmseg when mmcv has no compiled ops.
    """
    if importlib.util.find_spec('mmcv') is None:
        APPLIED['mmcv_ops'] = 'skipped: mmcv is not installed'
        return
    # The same test as mmengine's ``mmcv_full_available``.
    if importlib.util.find_spec('mmcv._ext') is not None:
        APPLIED['mmcv_ops'] = 'not needed: mmcv._ext (compiled ops) exists'
        return
    current = sys.modules.get(_OPS_MODULE)
    if current is not None:
        is_stub = getattr(current, '_ssdkd_stub', False)
        APPLIED['mmcv_ops'] = (
            is_stub or 'not needed: mmcv.ops is already imported')
        return
    import mmcv
    stub = _make_ops_stub()
    sys.modules[_OPS_MODULE] = stub
    mmcv.ops = stub
    if not any(
            isinstance(finder, _MissingOpsSubmoduleFinder)
            for finder in sys.meta_path):
        sys.meta_path.append(_MissingOpsSubmoduleFinder())
    APPLIED['mmcv_ops'] = True
    _log(
        'mmcv has no compiled ops (mmcv._ext is missing): mmcv.ops now '
        f'provides pure-PyTorch {" and ".join(_FALLBACK_OPS)} so mmseg '
        'imports; any other op raises ModuleNotFoundError. For those, '
        f'{MMCV_FULL_ADVICE}.', 'WARNING')


# --------------------------------------------------------------------------
# config scope: ``ssdkd_mm::`` in Config.fromfile
# --------------------------------------------------------------------------
_found_by_import = set()


def installed_path(package: str) -> str:
    """mmengine's ``get_installed_path``, falling back to the folder the
    package is imported from when that path does not exist (an editable
    install)."""
    from mmengine.utils import get_installed_path
    path = get_installed_path(package)
    if osp.isdir(path):
        return path
    spec = importlib.util.find_spec(package.replace('-', '_'))
    if spec is None or spec.origin is None:
        return path
    found = osp.dirname(spec.origin)
    if package not in _found_by_import:
        _found_by_import.add(package)
        _log(f'{package} is installed in editable mode: its configs are '
             f'read from {found}, where it is imported from (mmengine '
             f'looked in {path}).')
    return found


def fix_config_scope() -> None:
    """Let ``Config.fromfile`` resolve ``ssdkd_mm::`` (and the configs of
    editable installs)."""
    from mmengine.config import config as config_module
    from mmengine.config import utils as config_utils
    if APPLIED['config_scope'] is True:
        return
    config_utils.MODULE2PACKAGE.setdefault('ssdkd_mm', 'ssdkd_mm')
    config_module.get_installed_path = installed_path
    APPLIED['config_scope'] = True
    _log("configs can inherit 'ssdkd_mm::<path under configs/>' (e.g. "
         "ssdkd_mm::ssdkd/_base_/ssdkd_cls.py).")
