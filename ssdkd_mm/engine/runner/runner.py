# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""The Runner of SSD-KD configs: mmengine's, after :func:`complete_config`."""
import copy

from mmengine.config import Config
from mmengine.runner import Runner
from mmrazor.registry import RUNNERS

from ..config import complete_config
from ..hooks.utils import require_persisting_hooks


@RUNNERS.register_module()
class SSDKDRunner(Runner):
    """mmengine's :class:`~mmengine.runner.Runner`; :meth:`from_cfg` first
    completes an SSD-KD config (:func:`~ssdkd_mm.engine.config.
    complete_config`: data-free loader, normalisation, image size, buffer
    size, schedules), so any ``tools/train.py`` that honours
    ``runner_type`` runs the data-free bases. The completed config is the
    one the Runner writes into the work dir. :meth:`train` refuses to
    start when a hook that persists the algorithm's state is missing."""

    @classmethod
    def from_cfg(cls, cfg: Config) -> 'SSDKDRunner':
        cfg = copy.deepcopy(cfg)
        complete_config(cfg)
        return super().from_cfg(cfg)

    def train(self):
        if hasattr(self.model, 'replay') or hasattr(
                getattr(self.model, 'module', None), 'replay'):
            require_persisting_hooks(self)
        return super().train()
