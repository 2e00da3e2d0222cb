# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Host-device synchronisations per training iteration (a CUDA diagnostic)."""
import json
import os.path as osp
import statistics
import warnings
from collections import Counter
from typing import Dict, List, Optional

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmrazor.registry import HOOKS

#: What PyTorch's sync debug mode warns (``torch.cuda.set_sync_debug_mode``).
SYNC_MESSAGE = 'called a synchronizing CUDA operation'


@HOOKS.register_module()
class SSDKDSyncCountHook(Hook):
    """Counts the host-device synchronisations of every training iteration
    from ``begin_iter`` on, with PyTorch's sync debug mode
    (``torch.cuda.set_sync_debug_mode('warn')``), separately for iterations
    that are a student step only and iterations that also ran a synthesis
    round; the places (file:line) that synchronise are tallied too.

    The window is the whole iteration as the loop runs it: ``train_step``
    and every ``after_train_iter`` hook (e.g. the conversion of the returned
    log tensors to floats). At the end of training the summary is logged and
    written to ``work_dir/<out_file>``. On a CPU-only run it counts nothing
    (there is nothing to synchronise with) and says so once.

    Args:
        begin_iter (int): First iteration counted (skips the warm-up, whose
            first CUDA calls initialise kernels). Defaults to 30.
        out_file (str): JSON file in the work dir. Defaults to
            ``'cuda_syncs.json'``.
    """

    # LOWEST: its after_train_iter runs after every other hook's, its
    # before_train_iter after theirs too; the window holds train_step and
    # all after_train_iter work.
    priority = 'LOWEST'

    def __init__(self, begin_iter: int = 30,
                 out_file: str = 'cuda_syncs.json') -> None:
        self.begin_iter = begin_iter
        self.out_file = out_file
        self.per_iter: Dict[str, List[int]] = dict(kd_step=[],
                                                   with_round=[])
        self.places: Counter = Counter()
        self._catch: Optional[warnings.catch_warnings] = None
        self._records: Optional[list] = None
        self._rounds = 0

    @staticmethod
    def _cuda(runner) -> bool:
        return any(p.is_cuda for p in runner.model.parameters())

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter < self.begin_iter or not self._cuda(runner):
            return
        self._rounds = _rounds(runner)
        self._catch = warnings.catch_warnings(record=True)
        self._records = self._catch.__enter__()
        warnings.simplefilter('always')
        torch.cuda.set_sync_debug_mode('warn')

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if self._catch is None:
            return
        torch.cuda.set_sync_debug_mode('default')
        self._catch.__exit__(None, None, None)
        records, self._catch, self._records = self._records, None, None
        self.count(records, with_round=_rounds(runner) != self._rounds)

    def count(self, records: list, with_round: bool) -> int:
        """Tally one iteration's warnings; returns its synchronisations."""
        syncs = [r for r in records if SYNC_MESSAGE in str(r.message)]
        for r in syncs:
            self.places[f'{r.filename}:{r.lineno}'] += 1
        self.per_iter['with_round' if with_round else 'kd_step'].append(
            len(syncs))
        return len(syncs)

    def summary(self) -> Dict:
        """Mean / max synchronisations per iteration of each kind, and the
        places that synchronise most."""
        out = {}
        for kind, counts in self.per_iter.items():
            out[kind] = dict(
                iterations=len(counts),
                mean=statistics.fmean(counts) if counts else None,
                max=max(counts) if counts else None)
        out['places'] = dict(self.places.most_common(20))
        return out

    def after_train(self, runner) -> None:
        if not any(self.per_iter.values()):
            print_log('SSDKDSyncCountHook: nothing counted (not a CUDA run, '
                      f'or fewer than {self.begin_iter} iterations).',
                      logger='current')
            return
        s = self.summary()
        with open(osp.join(runner.work_dir, self.out_file), 'w') as f:
            json.dump(s, f, indent=2)
        print_log(
            'SSDKDSyncCountHook: host-device synchronisations per iteration '
            f"(mean / max): student step only {s['kd_step']['mean']} / "
            f"{s['kd_step']['max']} over {s['kd_step']['iterations']}, with "
            f"a synthesis round {s['with_round']['mean']} / "
            f"{s['with_round']['max']} over {s['with_round']['iterations']}; "
            f'places: {s["places"]}', logger='current')


def _rounds(runner) -> int:
    """Synthesis rounds done so far (0 for models without them)."""
    model = runner.model
    model = getattr(model, 'module', model)
    return int(getattr(model, 'rounds', 0))
