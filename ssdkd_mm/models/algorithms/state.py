# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""The layout of SSD-KD's training state, ``checkpoint['ssdkd']``, saved and
restored in one place (:meth:`SSDKDDistillation.ssdkd_state_dict`)."""

#: Counters of the algorithm (besides ``nonfinite_skipped``).
COUNTERS = ('rounds', 'kd_steps', 'synth_time', 'kd_time')

#: The layout written by :meth:`SSDKDDistillation.ssdkd_state_dict`.
VERSION = 2


def upgrade_state(state: dict) -> dict:
    """``checkpoint['ssdkd']`` as :data:`VERSION` lays it out.

    Version 1 (before the one-key state) had three entries written by two
    hooks: ``inversion`` (counters and ``bn_loss``), ``replay_buffer`` and
    ``sampler``; either part may be missing when its hook was."""
    version = state.get('version', 1)
    if version == VERSION:
        return state
    if version != 1 or 'inversion' not in state:
        raise ValueError(
            f"checkpoint['ssdkd'] has layout version {version!r} (keys "
            f'{sorted(state)}); this ssdkd_mm reads versions 1 and '
            f'{VERSION}.')
    inv = state['inversion']
    new = {k: inv[k] for k in COUNTERS}
    new.update(version=VERSION,
               nonfinite_skipped=inv.get('nonfinite_skipped', 0),
               synthesizer=({} if inv.get('bn_loss') is None else dict(
                   bn_loss=inv['bn_loss'])),
               replay=(None if 'replay_buffer' not in state else dict(
                   buffer=state['replay_buffer'],
                   sampler=state.get('sampler'))))
    return new
