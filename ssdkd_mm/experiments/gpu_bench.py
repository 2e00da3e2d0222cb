# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""GPU timing of SSD-KD's two costs on the paper's CIFAR shapes (what
``tools/benchmark_gpu.py`` runs; not run by the tests): ResNet-34 ->
ResNet-18 (mmpretrain CIFAR ResNets, 10 classes, random weights: timing does
not depend on them), 3x32x32, batch 256.

Measures, per precision (fp32; bf16 autocast + channels-last):
  * one KD step (priority sampling, teacher forward, student forward and
    backward, optimizer step, priority update);
  * one synthesis round with g=2 inner generator steps (BN-statistics, CE,
    adversarial term, meta-generator update, insertion into the buffer);
through the plugin's own ``SSDKDDistillation`` built from
configs/ssdkd/ssdkd_resnet34_resnet18_cifar10.py, CUDA-synchronised, median
of ``iters`` after ``warmup``.
"""
import json
import os
import os.path as osp
import statistics
import time
from typing import Callable, Dict, Optional

from .common import config_path
from .report import cpu_name

CFG = 'ssdkd/ssdkd_resnet34_resnet18_cifar10.py'
PRECISIONS = ('fp32', 'bf16+cl')


class DeviceError(RuntimeError):
    """The requested device cannot be timed."""


def sync(device: str) -> None:
    """Wait for the device's queued work (CUDA only)."""
    import torch
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def median_time(fn: Callable[[], object], device: str, warmup: int,
                iters: int) -> float:
    """Median seconds of ``iters`` synchronised calls after ``warmup``."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(precision: str, device: str = 'cuda', batch: int = 256,
            warmup: int = 5, iters: int = 30) -> Dict:
    """One synthesis round and one KD step of ``SSDKDDistillation`` in
    ``precision`` (``'fp32'`` or ``'bf16+cl'``)."""
    import torch
    from mmengine.optim import build_optim_wrapper

    from ssdkd_mm.registry import MODELS

    from ..engine.config import load_config
    cfg = load_config(config_path(CFG), log=False)
    cfg.model.teacher_ckpt = None  # random weights
    cfg.model.inversion.synth_batch_size = batch
    cfg.model.kd.batch_size = batch
    cfg.model.replay_buffer.capacity = max(4 * batch, 1024)
    if precision == 'bf16+cl':
        cfg.model.channels_last = True
        cfg.model.inversion.autocast = 'bfloat16'
        cfg.model.kd.autocast = 'bfloat16'
    else:
        cfg.model.channels_last = False
        cfg.model.inversion.autocast = None
        cfg.model.kd.autocast = None
    cfg.model.pop('_scope_', None)
    alg = MODELS.build(cfg.model).to(device)
    alg.train()
    optim = build_optim_wrapper(alg, cfg.optim_wrapper)
    alg.synthesizer.attach(alg.teacher)
    # fill the buffer (warm-up rounds), then time with the adversarial term
    alg.adversarial = False
    for _ in range(4):
        alg.synthesize(optim['generator'])
    alg.adversarial = True
    synth = median_time(lambda: alg.synthesize(optim['generator']), device,
                        max(1, warmup // 2), max(3, iters // 3))
    kd = median_time(lambda: alg.distill_step(optim['architecture']),
                     device, warmup, iters)
    out = dict(precision=precision, synth_round_s=synth, kd_step_s=kd)
    if device.startswith('cuda'):
        out['max_memory_gib'] = torch.cuda.max_memory_allocated() / 2**30
        torch.cuda.reset_peak_memory_stats()
    return out  # the models are freed with this frame


def markdown(result: Dict) -> str:
    """The table appended to docs/benchmarks.md."""
    lines = [
        '',
        f"### GPU timing: {result['device']} ({result['date']})",
        '',
        f"`python tools/benchmark_gpu.py`: CIFAR-shaped ResNet-34 → "
        f"ResNet-18 (random weights), batch {result['batch']}, torch "
        f"{result['torch']}, CUDA {result['cuda']}, cudnn.benchmark; "
        f"median of {result['iters']} KD steps and "
        f"{max(3, result['iters'] // 3)} "
        'synthesis rounds, CUDA-synchronised, through SSDKDDistillation.',
        '',
        '| precision | KD step | synthesis round (g=2) | peak memory |',
        '|---|---|---|---|',
    ]
    for r in result['rows']:
        mem = (f"{r['max_memory_gib']:.1f} GiB" if 'max_memory_gib' in r
               else '—')
        lines.append(f"| {r['precision']} | {r['kd_step_s'] * 1e3:.1f} ms | "
                     f"{r['synth_round_s'] * 1e3:.1f} ms | {mem} |")
    return '\n'.join(lines) + '\n'


def run_gpu_benchmark(device: str = 'cuda', batch: int = 256,
                      iters: int = 30, warmup: int = 5,
                      out: str = 'work_dirs/benchmark_gpu',
                      docs: Optional[str] = None,
                      allow_cpu: bool = False) -> Dict:
    """Time every precision, write ``out/results.json``, print the table
    and append it to ``docs``.

    Raises:
        DeviceError: No CUDA device for a ``cuda`` run, or ``cpu`` without
            ``allow_cpu`` (a smoke test of this code only).
    """
    import torch

    import ssdkd_mm  # noqa: F401
    from ssdkd_mm.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise DeviceError('no CUDA device; this script times a GPU (use '
                          '--device cpu --allow-cpu only to smoke-test it)')
    if device == 'cpu' and not allow_cpu:
        raise DeviceError('--device cpu needs --allow-cpu (smoke test only; '
                          'CPU numbers are in docs/benchmarks.md already)')
    if device.startswith('cuda'):
        torch.backends.cudnn.benchmark = True
        device_name = torch.cuda.get_device_name(0)
    else:
        device_name = cpu_name()
    rows = [measure(p, device, batch, warmup, iters) for p in PRECISIONS]
    result = dict(device=device_name, torch=torch.__version__,
                  cuda=torch.version.cuda, batch=batch, g_steps=2,
                  iters=iters, rows=rows,
                  date=time.strftime('%Y-%m-%d'))
    os.makedirs(out, exist_ok=True)
    with open(osp.join(out, 'results.json'), 'w') as f:
        json.dump(result, f, indent=2)
    text = markdown(result)
    print(text)
    if docs:
        with open(docs, 'a') as f:
            f.write(text)
    return result
