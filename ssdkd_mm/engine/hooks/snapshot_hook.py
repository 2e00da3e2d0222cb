# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Student snapshots at fixed wall-clock points, for accuracy-vs-time."""
import time
from typing import Dict, List, Sequence

from mmengine.hooks import Hook

from mmrazor.registry import HOOKS
from ...utils.modules import unwrap


def progress(alg) -> Dict[str, float]:
    """What a data-free algorithm has done so far: seconds of synthesis and
    of student updates, student steps, synthetic images generated for the
    student. Works for :class:`SSDKDDistillation` and the fixed mmrazor
    algorithms."""
    images = getattr(alg, 'synthetic_images', None)
    if images is None:
        images = alg.replay.buffer.n_inserted_total
    return dict(
        synth_time_s=float(alg.synth_time),
        kd_time_s=float(alg.kd_time),
        kd_steps=int(alg.kd_steps),
        synthesis_rounds=int(alg.rounds),
        synthetic_images=int(images))


@HOOKS.register_module()
class SSDKDSnapshotHook(Hook):
    """Copies the student's weights (to CPU memory) when the training loop's
    wall clock passes each of ``times_s``, and once more when training ends.

    The clock starts at the first training iteration, like
    :class:`SSDKDTimeBudgetHook`'s. Evaluating the snapshots afterwards keeps
    evaluation time out of the measured training time.

    Args:
        times_s (Sequence[float]): Seconds of training-loop time.
        final (bool): Also snapshot at the end of training. Defaults to True.
    """

    priority = 'LOWEST'

    def __init__(self, times_s: Sequence[float], final: bool = True) -> None:
        times = sorted(float(t) for t in times_s)
        if any(t <= 0 for t in times):
            raise ValueError(f'times_s must be > 0, got {list(times_s)}')
        self.times_s = times
        self.final = final
        self.snapshots: List[Dict] = []
        self._t0 = None
        self._next = 0

    def before_train(self, runner) -> None:
        self._t0 = None
        self._next = 0
        self.snapshots = []

    def before_train_iter(self, runner, batch_idx: int, data_batch=None
                          ) -> None:
        if self._t0 is None:
            self._t0 = time.perf_counter()

    def _take(self, runner, point_s, elapsed: float) -> None:
        alg = unwrap(runner.model)
        state = {
            k: v.detach().to('cpu', copy=True)
            for k, v in unwrap(alg.student).state_dict().items()
        }
        snap = dict(point_s=point_s, train_s=elapsed, iter=runner.iter)
        snap.update(progress(alg))
        snap['state_dict'] = state
        self.snapshots.append(snap)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        elapsed = time.perf_counter() - self._t0
        while (self._next < len(self.times_s)
               and elapsed >= self.times_s[self._next]):
            self._take(runner, self.times_s[self._next], elapsed)
            self._next += 1
        # The end of the run is taken at its last iteration (after the
        # budget hook set it), not after the post-training hooks.
        if self.final and self.is_last_train_iter(runner):
            self._take(runner, None, elapsed)

    def after_train(self, runner) -> None:
        # A loop stopped early (e.g. by the budget hook's hard stop) still
        # gets its final snapshot.
        if not self.final or self._t0 is None:
            return
        if self.snapshots and self.snapshots[-1]['point_s'] is None:
            return
        self._take(runner, None, time.perf_counter() - self._t0)
