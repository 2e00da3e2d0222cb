import json
import warnings
from types import SimpleNamespace

import torch.nn as nn

from ssdkd_mm.engine.hooks import SSDKDSyncCountHook
from ssdkd_mm.engine.hooks.sync_count_hook import SYNC_MESSAGE


def _records(n_sync: int, n_other: int = 1) -> list:
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter('always')
        for _ in range(n_sync):
            warnings.warn(f'{SYNC_MESSAGE} (e.g. item)', UserWarning)
        for _ in range(n_other):
            warnings.warn('something else', UserWarning)
    return rec


def test_counts_only_sync_warnings_per_kind_and_place():
    hook = SSDKDSyncCountHook()
    assert hook.count(_records(1), with_round=False) == 1
    assert hook.count(_records(3), with_round=False) == 3
    assert hook.count(_records(5, 2), with_round=True) == 5
    s = hook.summary()
    assert s['kd_step'] == dict(iterations=2, mean=2.0, max=3)
    assert s['with_round'] == dict(iterations=1, mean=5.0, max=5)
    # every sync is attributed to the line that warned (this file)
    assert sum(s['places'].values()) == 9
    assert all('test_sync_count_hook.py:' in p for p in s['places'])


def test_cpu_run_counts_nothing_and_writes_nothing(tmp_path):
    model = nn.Linear(2, 2)  # parameters on the CPU
    runner = SimpleNamespace(iter=100, model=model, work_dir=str(tmp_path))
    hook = SSDKDSyncCountHook(begin_iter=0)
    hook.before_train_iter(runner, 0)
    warnings.warn(SYNC_MESSAGE)
    hook.after_train_iter(runner, 0)
    hook.after_train(runner)
    assert hook.summary()['kd_step']['iterations'] == 0
    assert not (tmp_path / 'cuda_syncs.json').exists()


def test_summary_file_written(tmp_path):
    hook = SSDKDSyncCountHook()
    hook.count(_records(1), with_round=False)
    hook.after_train(SimpleNamespace(work_dir=str(tmp_path)))
    s = json.loads((tmp_path / 'cuda_syncs.json').read_text())
    assert s['kd_step']['mean'] == 1.0
    assert s['with_round']['iterations'] == 0
