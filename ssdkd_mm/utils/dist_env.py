# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Multi-process training on machines without GPUs (CPU, gloo)."""
import torch
import torch.distributed as torch_dist
from mmengine.logging import print_log


def setup_cpu_dist(cfg) -> bool:
    """Make ``--launcher pytorch`` (``tools/dist_train.sh``) work without
    CUDA devices: gloo process group, DDP wrappers without ``device_ids``.

    mmengine's ``pytorch`` launcher always calls ``torch.cuda.set_device``
    and the Runner gives DDP ``device_ids=[LOCAL_RANK]``; both fail on CPUs.
    The Runner skips its own initialisation when a process group exists,
    and a ``device_ids`` in ``model_wrapper_cfg`` overrides its default.
    With GPUs, or a single process, this does nothing.

    Args:
        cfg (Config): The training config, with ``launcher`` set.

    Returns:
        bool: Whether the run was set up for the CPU.
    """
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return False
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend='gloo')
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    print_log(f'No CUDA device: rank {torch_dist.get_rank()} of '
              f'{torch_dist.get_world_size()} trains on the CPU with gloo.',
              logger='current')
    return True
