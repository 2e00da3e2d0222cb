# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Tests for ssdkd_mm/compat/ (one group per fix)."""
import importlib.machinery
import importlib.util
import math
import os
import os.path as osp
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest
import torch

import ssdkd_mm.compat as compat

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
HAS_MMCV_EXT = importlib.util.find_spec('mmcv._ext') is not None
needs_lite_mmcv = pytest.mark.skipif(
    HAS_MMCV_EXT, reason='mmcv has compiled ops; the fallback stays off')


def run_python(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter that imports from this checkout."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (REPO, env.get('PYTHONPATH')) if p)
    proc = subprocess.run(
        [sys.executable, '-c', textwrap.dedent(code)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture
def fresh_state(monkeypatch):
    """Let a test change ``APPLIED`` without leaking it to other tests."""
    monkeypatch.setattr(compat, 'APPLIED', dict(compat.APPLIED))
    return compat.APPLIED


# ---------------------------------------------------------------- C1 -----
def test_mmrazor_models_import_after_fix():
    proc = run_python("""
        import ssdkd_mm.compat as c
        c.apply_compat_fixes()
        first = dict(c.APPLIED)
        c.apply_compat_fixes()
        assert c.APPLIED == first, (first, c.APPLIED)
        import joblib
        import mmrazor.models
        from mmrazor.utils import register_all_modules
        register_all_modules(False)
        from mmrazor.registry import MODELS
        assert MODELS.get('SingleTeacherDistill') is not None
        if first['mmrazor_quantization'] is True:
            from mmrazor.structures.quantization import (
                BackendConfigs, get_native_backend_config)
            assert set(BackendConfigs) == {
                'native', 'academic', 'openvino', 'tensorrt'}
            try:
                get_native_backend_config()
            except NotImplementedError as e:
                assert 'torch>=2' in str(e)
            else:
                raise AssertionError('the stub must refuse to quantize')
        print('ACTIVE', sum(v is True for v in first.values()))
        """)
    out = proc.stdout + proc.stderr
    # One log line per active fix, however often the fixes are applied.
    assert out.count('[ssdkd_mm.compat]') == int(out.split('ACTIVE ')[1][0])


def test_repeated_apply_changes_and_logs_nothing(monkeypatch):
    compat.apply_compat_fixes()
    state = dict(compat.APPLIED)
    assert all(v is True or isinstance(v, str) for v in state.values())
    logged = []
    monkeypatch.setattr(compat, 'print_log',
                        lambda *args, **kwargs: logged.append(args))
    compat.apply_compat_fixes()
    compat.apply_compat_fixes()
    assert logged == []
    assert compat.APPLIED == state


def test_quantization_stub_skipped_when_real_module_imported(
        monkeypatch, fresh_state):
    real = types.ModuleType(compat._QUANT_MODULE)
    monkeypatch.setitem(sys.modules, compat._QUANT_MODULE, real)
    compat.fix_mmrazor_quantization()
    assert sys.modules[compat._QUANT_MODULE] is real
    assert fresh_state['mmrazor_quantization'].startswith('not needed')


# ---------------------------------------------------------------- C5 -----
def test_runner_checkpoint_loads_after_fix(tmp_path):
    from mmengine.logging import HistoryBuffer
    from mmengine.runner import load_checkpoint
    from mmengine.runner.checkpoint import CheckpointLoader

    compat.fix_local_checkpoint_loading()
    model = torch.nn.Linear(2, 1)
    ckpt = dict(
        meta=dict(epoch=1, iter=10, seed=np.int64(7)),
        state_dict={
            k: torch.ones_like(v)
            for k, v in model.state_dict().items()
        },
        message_hub=dict(
            log_scalars={
                'train/loss':
                HistoryBuffer(np.array([1.0, 2.0]), np.array([1, 1]))
            },
            runtime_info=dict(curve=np.arange(3, dtype=np.float32))))
    path = str(tmp_path / 'iter_10.pth')
    torch.save(ckpt, path)

    loaded = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.current() == 2.0
    np.testing.assert_array_equal(
        loaded['message_hub']['runtime_info']['curve'], [0, 1, 2])
    assert loaded['meta']['seed'] == 7

    load_checkpoint(model, path, map_location='cpu')
    assert torch.equal(model.weight, torch.ones(1, 2))
    with pytest.raises(FileNotFoundError):
        CheckpointLoader.load_checkpoint(str(tmp_path / 'missing.pth'))


def test_checkpoint_fix_skipped_before_torch_2_6(monkeypatch, fresh_state):
    from mmengine.runner.checkpoint import CheckpointLoader, load_from_local
    monkeypatch.setattr(CheckpointLoader, '_schemes',
                        dict(CheckpointLoader._schemes))
    CheckpointLoader._schemes[''] = load_from_local
    monkeypatch.setattr(torch, '__version__', '2.5.1')
    compat.fix_local_checkpoint_loading()
    assert CheckpointLoader._schemes[''] is load_from_local
    assert fresh_state['local_checkpoint_loading'].startswith('not needed')


# ---------------------------------------------------------------- C3 -----
def test_point_sample_returns_pixel_values_at_pixel_centres():
    feat = torch.arange(6.).view(1, 1, 2, 3)
    # (x, y) of every pixel centre in [0, 1] coordinates, row-major order
    centres = torch.tensor([[[(j + 0.5) / 3, (i + 0.5) / 2] for i in range(2)
                             for j in range(3)]])
    out = compat.point_sample(feat, centres)
    assert out.shape == (1, 1, 6)
    assert torch.allclose(out, feat.view(1, 1, 6), atol=1e-6)
    # align_corners=True puts the corner pixel centres at 0 and 1
    corners = torch.tensor([[[0., 0.], [1., 0.], [0., 1.], [1., 1.]]])
    out = compat.point_sample(feat, corners, align_corners=True)
    assert torch.allclose(out, torch.tensor([[[0., 2., 3., 5.]]]), atol=1e-6)
    # halfway between two centres is their mean; grid-shaped points keep it
    halfway = torch.tensor([[[[1. / 3, 0.25]]]])
    out = compat.point_sample(feat, halfway)
    assert out.shape == (1, 1, 1, 1)
    assert torch.allclose(out, torch.tensor(0.5), atol=1e-6)


def _focal_by_hand(x, positive, gamma, alpha):
    p = 1 / (1 + math.exp(-x))
    if positive:
        return -alpha * (1 - p)**gamma * math.log(p)
    return -(1 - alpha) * p**gamma * math.log(1 - p)


def test_sigmoid_focal_loss_matches_hand_computation():
    pred = torch.tensor([[0.0, 1.0], [2.0, -1.0]], dtype=torch.float64)
    target = torch.tensor([0, 2])  # 2 == num_classes: background sample
    gamma, alpha = 2.0, 0.25
    expected = torch.tensor([[
        _focal_by_hand(0.0, True, gamma, alpha),
        _focal_by_hand(1.0, False, gamma, alpha)
    ],
                             [
                                 _focal_by_hand(2.0, False, gamma, alpha),
                                 _focal_by_hand(-1.0, False, gamma, alpha)
                             ]],
                            dtype=torch.float64)
    loss = compat.sigmoid_focal_loss(pred, target, gamma, alpha, None, 'none')
    assert torch.allclose(loss, expected)
    assert math.isclose(expected[0, 0].item(), 0.25 * 0.25 * math.log(2))
    mean = compat.sigmoid_focal_loss(pred, target, gamma, alpha)
    assert torch.allclose(mean, expected.sum() / 2)  # mmcv: sum / N
    total = compat.sigmoid_focal_loss(pred, target, gamma, alpha, None, 'sum')
    assert torch.allclose(total, expected.sum())
    # a class weight scales the whole row of sample n by weight[target[n]]
    weight = torch.tensor([2.0, 3.0], dtype=torch.float64)
    target = torch.tensor([1, 0])
    weighted = compat.sigmoid_focal_loss(pred, target, gamma, alpha, weight,
                                         'none')
    plain = compat.sigmoid_focal_loss(pred, target, gamma, alpha, None, 'none')
    assert torch.allclose(weighted, plain * torch.tensor([[3.0], [2.0]]))


@needs_lite_mmcv
def test_mmcv_ops_fallback_and_missing_op_errors():
    compat.fix_mmcv_ops()
    assert compat.APPLIED['mmcv_ops'] is True
    import mmcv
    from mmcv.ops import point_sample, sigmoid_focal_loss
    assert point_sample is compat.point_sample
    assert sigmoid_focal_loss is compat.sigmoid_focal_loss
    assert mmcv.ops is sys.modules['mmcv.ops']
    assert not hasattr(mmcv.ops, '__wrapped__')  # dunders: AttributeError

    advice = 'install the full mmcv (MMCV_WITH_OPS=1 pip install mmcv==2.1.0)'
    with pytest.raises(ModuleNotFoundError) as err:
        from mmcv.ops import nms  # noqa: F401
    assert 'mmcv.ops.nms' in str(err.value) and advice in str(err.value)
    with pytest.raises(ModuleNotFoundError) as err:
        mmcv.ops.RoIAlign
    assert 'RoIAlign' in str(err.value) and advice in str(err.value)
    with pytest.raises(ModuleNotFoundError) as err:
        import mmcv.ops.multi_scale_deform_attn  # noqa: F401
    assert advice in str(err.value)


def test_mmcv_ops_fix_is_noop_with_compiled_ops(monkeypatch, fresh_state):
    import mmcv
    fake_ext = types.ModuleType('mmcv._ext')
    fake_ext.__spec__ = importlib.machinery.ModuleSpec('mmcv._ext', None)
    monkeypatch.setitem(sys.modules, 'mmcv._ext', fake_ext)
    monkeypatch.delitem(sys.modules, 'mmcv.ops', raising=False)
    monkeypatch.delattr(mmcv, 'ops', raising=False)
    compat.fix_mmcv_ops()
    assert 'mmcv.ops' not in sys.modules
    assert 'ops' not in vars(mmcv)
    assert fresh_state['mmcv_ops'].startswith('not needed')


def test_mmseg_models_import_and_run_after_fix():
    proc = run_python("""
        import os.path as osp
        import ssdkd_mm.compat as c
        c.apply_compat_fixes()
        import mmseg
        import mmseg.models
        import torch
        from mmengine.config import Config
        from mmengine.model import revert_sync_batchnorm
        from mmseg.registry import MODELS
        from mmseg.utils import register_all_modules
        register_all_modules()
        if c.APPLIED['mmcv_ops'] is True:
            # mmseg's own guards must still take their fallback path
            from mmseg.models.decode_heads import cc_head, psa_head
            assert cc_head.CrissCrossAttention is None
            assert psa_head.PSAMask is None
        cfg = Config.fromfile(osp.join(
            osp.dirname(mmseg.__file__), '.mim', 'configs', 'mobilenet_v2',
            'mobilenet-v2-d8_deeplabv3_4xb2-80k_cityscapes-512x1024.py'))
        cfg.model.pretrained = None
        cfg.model.data_preprocessor = None
        model = revert_sync_batchnorm(MODELS.build(cfg.model)).eval()
        with torch.no_grad():
            out = model(torch.rand(1, 3, 64, 64), mode='tensor')
        print('SHAPE', tuple(out.shape))
        """)
    assert 'SHAPE (1, 19, 8, 8)' in proc.stdout


def test_known_import_warnings_are_silenced_once_ssdkd_mm_is_imported():
    import subprocess
    import sys
    out = subprocess.run(
        [sys.executable, '-W', 'default', '-c',
         'import ssdkd_mm, mmengine, mmseg, mmcv.cnn.bricks.transformer'],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'pkg_resources is deprecated' not in out.stderr
    assert 'MultiScaleDeformableAttention' not in out.stderr


# ------------------------------------------------------- config scope -----
def test_config_scope_resolves_ssdkd_mm_bases_from_any_folder(tmp_path):
    from mmengine.config import Config
    from mmengine.config.utils import MODULE2PACKAGE
    assert compat.APPLIED['config_scope'] is True
    assert MODULE2PACKAGE['ssdkd_mm'] == 'ssdkd_mm'
    user = tmp_path / 'user.py'
    user.write_text(
        "_base_ = ['ssdkd_mm::ssdkd/_base_/ssdkd_runtime.py']\n")
    cfg = Config.fromfile(str(user))
    assert cfg.val_cfg.type == 'mmrazor.SSDKDValLoop'
    # built in the scope mmengine gives a `ssdkd_mm::` base: no fallback
    from mmengine.registry import LOOPS
    assert cfg.val_cfg._scope_ == 'ssdkd_mm'
    from ssdkd_mm.registry import SCOPE_REGISTRIES
    assert SCOPE_REGISTRIES['LOOPS'].get(
        'mmrazor.SSDKDValLoop').__name__ == 'SSDKDValLoop'
    assert LOOPS.get('IterBasedTrainLoop') is SCOPE_REGISTRIES['LOOPS'].get(
        'IterBasedTrainLoop')


def test_installed_path_falls_back_to_the_imported_folder(monkeypatch):
    """An editable install: mmengine's path (the distribution location plus
    the name) does not exist; the folder Python imports from does."""
    import mmengine.utils
    monkeypatch.setattr(mmengine.utils, 'get_installed_path',
                        lambda package: '/nonexistent/site-packages/' +
                        package)
    monkeypatch.setattr(compat, '_found_by_import', set())
    logged = []
    monkeypatch.setattr(compat, '_log', lambda msg, level='INFO':
                        logged.append(msg))
    path = compat.installed_path('ssdkd_mm')
    assert path == osp.dirname(osp.dirname(osp.abspath(compat.__file__)))
    assert osp.isdir(osp.join(path, '.mim', 'configs', 'ssdkd'))
    compat.installed_path('ssdkd_mm')
    assert len(logged) == 1 and 'editable' in logged[0]
