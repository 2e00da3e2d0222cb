# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""The interface every image source of SSD-KD implements.

A synthesizer is built by ``type=`` from :data:`ssdkd_mm.registry.SYNTHESIZERS`
(config key ``model.inversion``; ``type`` defaults to
``'InversionSynthesizer'``). It never sees the algorithm: each round gets its
inputs explicitly, as one :class:`SynthesisInputs`.

The contract (stable; new methods such as DeepInversion, CMI or DFQ are
subclasses registered under their own ``type``):

- ``feeds_replay`` (class attribute): ``True`` when :meth:`synthesize` makes
  images that go into the prioritised replay (the student step then draws
  from the replay); ``False`` when the source hands the student step its
  inputs directly through :meth:`draw_inputs` (the Gaussian-noise baseline).
- :meth:`synthesize` ``(inputs, optim_g)``: one round. Returns ``None``
  (nothing made, e.g. every step skipped as non-finite) or
  ``dict(images=x01, log=dict(...))``, ``x01`` an ``N×C×H×W`` tensor in
  [0, 1] (detached), ``log`` scalars for the runner's log. ``optim_g`` is
  the generator's optim wrapper (``optim_wrapper['generator']``); a source
  without a trained generator ignores it.
- :meth:`draw_inputs` ``(n, img_shape, device, inputs)``: only for
  ``feeds_replay=False``; ``n`` inputs already in the models' input space
  (``inputs``: the :class:`SynthesisInputs` of this step, e.g. for a
  generator that makes a fresh batch per student step, as DFQ's). Such a
  source's :meth:`synthesize` still runs when a round is due (e.g. to
  train its generator); what it returns is logged, never put in the
  replay.
- :meth:`attach` ``(teacher)`` / :meth:`detach` ``()``: forward hooks the
  source needs on the (unwrapped) teacher, e.g. the BN-statistics hooks;
  attached in ``before_train`` (after SyncBN was reverted) and removed in
  ``after_run``. :meth:`attach` returns the number of hooked layers.
- :meth:`state_dict` / :meth:`load_state_dict`: what must survive a resume
  (e.g. the BN-statistics EMA); saved under the algorithm's one checkpoint
  key.
"""
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper

__all__ = ['BaseSynthesizer', 'SynthesisInputs', 'upgrade_inversion_cfg']


@dataclass
class SynthesisInputs:
    """What a synthesis round computes on (built by the algorithm each
    round; models unwrapped from DDP).

    Args:
        teacher (nn.Module): The frozen teacher.
        student (nn.Module): The student (for adversarial terms; a
            synthesizer must not leave gradients on it).
        generator (nn.Module): The shared generator (trained by ``optim_g``).
        normalize (callable): Images in [0, 1] → the models' input.
        task: The task adapter (logits, CE, KL, targets, φ statistics).
        augment (callable): The student's views (``BatchAugment``).
        modulating (callable): φ (:class:`ModulatingFunction`).
        num_classes (int): Classes of the teacher.
        device (torch.device): Where the round runs.
        adversarial (bool): Whether the adversarial term is on this round
            (off during the warm-up).
        guard: :class:`NonFiniteGuard` (skips and counts NaN/Inf losses).
        ref_counts (Tensor, optional): The replay's class counts (None when
            it is empty).
        channels_last (bool): Models run in channels-last memory format.
    """
    teacher: nn.Module
    student: nn.Module
    generator: nn.Module
    normalize: Callable[[torch.Tensor], torch.Tensor]
    task: object
    augment: Callable
    modulating: Callable
    num_classes: int
    device: torch.device
    adversarial: bool
    guard: object
    ref_counts: Optional[torch.Tensor] = None
    channels_last: bool = False


class BaseSynthesizer:
    """An image source of SSD-KD (see the module docstring)."""

    #: True: rounds make images for the replay; False: the student step
    #: takes :meth:`draw_inputs` instead of drawing from the replay.
    feeds_replay: bool = True

    def attach(self, teacher: nn.Module) -> int:
        """Attach the hooks this source needs on ``teacher``; returns how
        many layers were hooked."""
        return 0

    def detach(self) -> None:
        """Remove the hooks of :meth:`attach`."""

    def synthesize(self, inputs: SynthesisInputs,
                   optim_g: OptimWrapper) -> Optional[Dict]:
        """One round: None or ``dict(images=x01, log=dict)``."""
        raise NotImplementedError

    def draw_inputs(self, n: int, img_shape: Tuple[int, ...],
                    device: torch.device,
                    inputs: Optional[SynthesisInputs] = None
                    ) -> torch.Tensor:
        """``n`` student-step inputs in the models' input space (only for
        sources with ``feeds_replay = False``)."""
        raise NotImplementedError(
            f'{type(self).__name__} feeds the replay; draw from it.')

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def upgrade_inversion_cfg(cfg: Optional[dict]) -> dict:
    """``model.inversion`` of configs before the registry: ``source=
    'noise'`` becomes ``type='NoiseSynthesizer'`` (its other keys were
    ignored then and are dropped), ``source='generator'`` the default
    type."""
    cfg = dict(cfg or {})
    source = cfg.pop('source', None)
    if source is None:
        return cfg
    if source not in ('generator', 'noise'):
        raise ValueError("inversion.source must be 'generator' or 'noise', "
                         f"got {source!r} (now spelt inversion.type)")
    if source == 'noise':
        print_log("model.inversion.source='noise' is now spelt "
                  "model.inversion=dict(type='NoiseSynthesizer')",
                  logger='current', level=30)
        return dict(type='NoiseSynthesizer')
    return cfg
