"""A config without a hook that persists SSD-KD's state cannot train (so it
cannot lose that state on resume)."""
import pytest
from _tiny_ssdkd import write_tiny_config
from mmengine.config import Config
from mmengine.runner import Runner

from ssdkd_mm.engine.runner import SSDKDRunner


def _cfg(tmp_path, drop):
    cfg = Config.fromfile(write_tiny_config(tmp_path))
    cfg.custom_hooks = [h for h in cfg.custom_hooks
                        if h['type'].split('.')[-1] not in drop]
    cfg.work_dir = str(tmp_path / 'work')
    return cfg


@pytest.mark.parametrize('drop', ['SSDKDReplayBufferHook',
                                  'SSDKDInversionHook'])
def test_one_persisting_hook_missing_refuses_to_train(tmp_path, drop):
    runner = Runner.from_cfg(_cfg(tmp_path, {drop}))
    with pytest.raises(RuntimeError, match=f'add .*{drop}.* to custom_hooks'):
        runner.train()
    assert runner.iter == 0


def test_both_missing_refuse_under_the_ssdkd_runner(tmp_path):
    runner = SSDKDRunner.from_cfg(
        _cfg(tmp_path, {'SSDKDReplayBufferHook', 'SSDKDInversionHook'}))
    with pytest.raises(RuntimeError, match='SSD-KD state would not be saved'):
        runner.train()
