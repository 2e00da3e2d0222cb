"""A config without the hook that persists SSD-KD's state cannot train (so
it cannot lose that state on resume)."""
import pytest
from _tiny_ssdkd import write_tiny_config
from mmengine.config import Config
from mmengine.runner import Runner

from ssdkd_mm.engine.runner import SSDKDRunner


def _cfg(tmp_path, drop, **kwargs):
    cfg = Config.fromfile(write_tiny_config(tmp_path, **kwargs))
    cfg.custom_hooks = [h for h in cfg.custom_hooks
                        if h['type'].split('.')[-1] not in drop]
    cfg.work_dir = str(tmp_path / 'work')
    return cfg


def test_persisting_hook_missing_refuses_to_train(tmp_path):
    """Another SSD-KD hook present: it refuses in before_train."""
    runner = Runner.from_cfg(_cfg(tmp_path, {'SSDKDInversionHook'}))
    with pytest.raises(RuntimeError,
                       match='add .*SSDKDInversionHook.* to custom_hooks'):
        runner.train()
    assert runner.iter == 0


def test_no_ssdkd_hook_at_all_refuses_in_a_plain_runner(tmp_path):
    """No hook runs any check: the algorithm's train_step refuses a
    Runner's batch until the persisting hook registered itself."""
    runner = Runner.from_cfg(
        _cfg(tmp_path, {'SSDKDReplayBufferHook', 'SSDKDInversionHook'}))
    with pytest.raises(RuntimeError, match='SSD-KD state would not be saved'):
        runner.train()
    assert runner.model.rounds == 0 and runner.iter == 0


def test_both_missing_refuse_under_the_ssdkd_runner(tmp_path):
    runner = SSDKDRunner.from_cfg(
        _cfg(tmp_path, {'SSDKDReplayBufferHook', 'SSDKDInversionHook'}))
    with pytest.raises(RuntimeError, match='SSD-KD state would not be saved'):
        runner.train()


def test_the_replay_hook_is_optional_now(tmp_path):
    """The replay's state is saved with the algorithm's, by the one
    persisting hook: without the replay hook a checkpoint still holds it."""
    import torch
    cfg = _cfg(tmp_path, {'SSDKDReplayBufferHook'}, max_iters=3,
               ckpt_interval=3)
    runner = Runner.from_cfg(cfg)
    runner.train()
    ckpt = torch.load(tmp_path / 'work' / 'iter_3.pth', map_location='cpu',
                      weights_only=False)
    assert ckpt['ssdkd']['replay']['buffer']['size'] == len(
        runner.model.replay) > 0
