# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Refreshes, logs and visualises the replay buffer (its state is saved
with the algorithm's, by :class:`SSDKDInversionHook`)."""
import math
import os.path as osp

import torch
from mmengine.hooks import Hook

from mmrazor.registry import HOOKS
from .utils import get_algorithm, log_scalar, require_persisting_hooks


def save_image_grid(images01: torch.Tensor, path: str, nrow: int = 8) -> None:
    """Write (N, C, H, W) images in [0, 1] as one PNG grid."""
    import mmcv
    from torchvision.utils import make_grid
    grid = make_grid(images01.float().cpu(), nrow=nrow, padding=2,
                     pad_value=1.0)
    arr = (grid.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    # make_grid turns 1-channel images into 3 identical channels; RGB→BGR.
    mmcv.imwrite(arr[..., ::-1].copy(), path, auto_mkdir=True)


@HOOKS.register_module()
class SSDKDReplayBufferHook(Hook):
    """The replay buffer's lifecycle around the algorithm.

    * every ``refresh_interval`` iterations: recompute ŷ, φ, π over the whole
      buffer with the current student;
    * every ``log_interval``: fill ratio, class-histogram entropy, mean age
      and the mean times an entry was drawn;
    * every ``vis_interval``: a PNG grid of ``vis_num`` buffer images into
      ``<work_dir>/buffer_vis/``.

    Args:
        refresh_interval (int): 0 disables refreshing. Defaults to 500.
        log_interval (int): Defaults to 50.
        vis_interval (int): 0 disables grids. Defaults to 1000.
        vis_num (int): Images per grid. Defaults to 64.
    """

    priority = 'NORMAL'

    def __init__(self,
                 refresh_interval: int = 500,
                 log_interval: int = 50,
                 vis_interval: int = 1000,
                 vis_num: int = 64) -> None:
        self.refresh_interval = refresh_interval
        self.log_interval = log_interval
        self.vis_interval = vis_interval
        self.vis_num = vis_num

    def before_train(self, runner) -> None:
        get_algorithm(runner)
        require_persisting_hooks(runner)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        alg = get_algorithm(runner)
        buf = alg.replay.buffer
        if len(buf) == 0:
            return
        if self.refresh_interval and self.every_n_train_iters(
                runner, self.refresh_interval):
            alg.refresh_buffer()
        if self.every_n_train_iters(runner, self.log_interval):
            hist = buf.class_histogram(alg.num_classes)
            p = hist / hist.sum().clamp_min(1)
            entropy = -(p[p > 0] * p[p > 0].log()).sum() / math.log(
                alg.num_classes)
            log_scalar(runner, 'buffer_fill', len(buf) / buf.capacity)
            log_scalar(runner, 'class_entropy', entropy)
            log_scalar(runner, 'buffer_mean_age',
                       alg.rounds - buf.inserted_at.float().mean())
            log_scalar(runner, 'times_sampled_mean',
                       buf.times_sampled.float().mean())
        if self.vis_interval and self.every_n_train_iters(
                runner, self.vis_interval):
            self.save_grid(runner, f'iter_{runner.iter + 1}.png')

    def save_grid(self, runner, name: str) -> str:
        buf = get_algorithm(runner).replay.buffer
        n = min(self.vis_num, len(buf))
        idx = torch.linspace(0, len(buf) - 1, n).long().to(buf.device)
        path = osp.join(runner.work_dir, 'buffer_vis', name)
        save_image_grid(buf.get(idx), path, nrow=int(math.ceil(n**0.5)))
        return path

    def after_train(self, runner) -> None:
        if self.vis_interval and len(get_algorithm(runner).replay) > 0:
            self.save_grid(runner, 'final.png')
