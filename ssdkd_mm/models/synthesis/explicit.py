# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""What the self-contained synthesizers (DeepInversion, CMI, DFQ) share to
run as image sources of the algorithm: their explicit-input round under the
config's precision, with the models' train/eval modes given back as found,
and the round's loss for the log."""
import contextlib
import math
from typing import Dict, List, Optional

import torch
import torch.nn as nn

from ..precision import autocast, check_autocast
from .base import BaseSynthesizer, SynthesisInputs


@contextlib.contextmanager
def modes_kept(*modules: Optional[nn.Module]):
    """Restore each module's train/eval mode on exit (the self-contained
    rounds put the models in eval mode and leave them so)."""
    modes = [(m, m.training) for m in modules if m is not None]
    try:
        yield
    finally:
        for m, mode in modes:
            m.train(mode)


class ExplicitRoundSynthesizer(BaseSynthesizer):
    """Base of the sources whose round is a self-contained method on
    explicit inputs (``invert``); :meth:`synthesize` binds the algorithm's
    inputs to it.

    Args:
        synth_batch_size (int): Images per round. Defaults to 256.
        autocast (str, optional): ``None`` (fp32), ``'bfloat16'`` or
            ``'float16'`` for the round's forwards (BN statistics are
            matched in fp32). Defaults to None.
    """

    def __init__(self, synth_batch_size: int = 256,
                 autocast: Optional[str] = None) -> None:
        if isinstance(synth_batch_size, bool) or not isinstance(
                synth_batch_size, int) or synth_batch_size < 1:
            raise ValueError('synth_batch_size must be an int >= 1, got '
                             f'{synth_batch_size!r}')
        check_autocast(autocast, 'autocast')
        self.batch_size = synth_batch_size
        self.autocast = autocast

    def round_context(self, inputs: SynthesisInputs):
        """The round's precision, and the models' modes restored after."""
        stack = contextlib.ExitStack()
        stack.enter_context(autocast(inputs.device, self.autocast))
        stack.enter_context(modes_kept(inputs.teacher, inputs.student,
                                       inputs.generator))
        return stack

    @staticmethod
    def round_log(name: str, losses: List[float]) -> Dict[str, torch.Tensor]:
        """The last step's loss of the round, as ``loss_<name>``."""
        value = losses[-1] if losses else math.nan
        return {f'loss_{name}': torch.tensor(float(value))}


__all__ = ['ExplicitRoundSynthesizer', 'modes_kept']
