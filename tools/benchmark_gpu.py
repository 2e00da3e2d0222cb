# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""GPU timing of SSD-KD's two costs on the paper's CIFAR shapes (not run by
the tests): ResNet-34 -> ResNet-18 (mmpretrain CIFAR ResNets, 10 classes,
random weights: timing does not depend on them), 3x32x32, batch 256.

Measures, per precision (fp32; bf16 autocast + channels-last):
  * one KD step (priority sampling, teacher forward, student forward and
    backward, optimizer step, priority update);
  * one synthesis round with g=2 inner generator steps (BN-statistics, CE,
    adversarial term, meta-generator update, insertion into the buffer);
through the plugin's own ``SSDKDDistillation`` built from
configs/ssdkd/ssdkd_resnet34_resnet18_cifar10.py, CUDA-synchronised, median
of ``--iters`` after ``--warmup``.

    python tools/benchmark_gpu.py --docs docs/benchmarks.md

Writes work_dirs/benchmark_gpu/results.json and appends a table naming the
device to the Markdown file given with --docs.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

CFG = 'ssdkd/ssdkd_resnet34_resnet18_cifar10.py'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='SSD-KD GPU timing')
    p.add_argument('--device', default='cuda')
    p.add_argument('--batch', type=int, default=256)
    p.add_argument('--iters', type=int, default=30)
    p.add_argument('--warmup', type=int, default=5)
    p.add_argument('--out', default='work_dirs/benchmark_gpu')
    p.add_argument('--docs', default=None)
    p.add_argument('--allow-cpu', action='store_true',
                   help='run on CPU (a smoke test of this script only)')
    return p.parse_args(argv)


def _sync(device):
    import torch
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def _time(fn, device, warmup, iters):
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(precision: str, args) -> dict:
    import torch
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper

    from ssdkd_mm.apis.demo import config_path
    from ssdkd_mm.registry import MODELS
    cfg = Config.fromfile(config_path(CFG))
    cfg.model.teacher_ckpt = None  # random weights
    cfg.model.inversion.synth_batch_size = args.batch
    cfg.model.kd.batch_size = args.batch
    cfg.model.replay_buffer.capacity = max(4 * args.batch, 1024)
    if precision == 'bf16+cl':
        cfg.model.channels_last = True
        cfg.model.inversion.autocast = 'bfloat16'
        cfg.model.kd.autocast = 'bfloat16'
    else:
        cfg.model.channels_last = False
        cfg.model.inversion.autocast = None
        cfg.model.kd.autocast = None
    cfg.model.pop('_scope_', None)
    alg = MODELS.build(cfg.model).to(args.device)
    alg.train()
    optim = build_optim_wrapper(alg, cfg.optim_wrapper)
    alg.attach_bn_hooks()
    # fill the buffer (warm-up rounds), then time with the adversarial term
    alg.adversarial = False
    for _ in range(4):
        alg.synthesize(optim['generator'])
    alg.adversarial = True
    synth = _time(lambda: alg.synthesize(optim['generator']), args.device,
                  max(1, args.warmup // 2), max(3, args.iters // 3))
    kd = _time(lambda: alg.distill_step(optim['architecture']), args.device,
               args.warmup, args.iters)
    out = dict(precision=precision, synth_round_s=synth, kd_step_s=kd)
    if args.device.startswith('cuda'):
        out['max_memory_gib'] = torch.cuda.max_memory_allocated() / 2**30
        torch.cuda.reset_peak_memory_stats()
    del alg, optim
    return out


def main(argv=None):
    args = parse_args(argv)
    import torch

    import ssdkd_mm  # noqa: F401
    from ssdkd_mm.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        sys.exit('error: no CUDA device; this script times a GPU (use '
                 '--device cpu --allow-cpu only to smoke-test it)')
    if args.device == 'cpu' and not args.allow_cpu:
        sys.exit('error: --device cpu needs --allow-cpu (smoke test only; '
                 'CPU numbers are in docs/benchmarks.md already)')
    if args.device.startswith('cuda'):
        torch.backends.cudnn.benchmark = True
        device_name = torch.cuda.get_device_name(0)
    else:
        from ssdkd_mm.apis.benchmark import _cpu_name
        device_name = _cpu_name()
    rows = [measure(p, args) for p in ('fp32', 'bf16+cl')]
    result = dict(device=device_name, torch=torch.__version__,
                  cuda=torch.version.cuda, batch=args.batch, g_steps=2,
                  iters=args.iters, rows=rows,
                  date=time.strftime('%Y-%m-%d'))
    os.makedirs(args.out, exist_ok=True)
    with open(osp.join(args.out, 'results.json'), 'w') as f:
        json.dump(result, f, indent=2)
    lines = [
        '',
        f"### GPU timing: {device_name} ({result['date']})",
        '',
        f"`python tools/benchmark_gpu.py`: CIFAR-shaped ResNet-34 → "
        f"ResNet-18 (random weights), batch {args.batch}, torch "
        f"{torch.__version__}, CUDA {torch.version.cuda}, cudnn.benchmark; "
        f"median of {args.iters} KD steps and {max(3, args.iters // 3)} "
        'synthesis rounds, CUDA-synchronised, through SSDKDDistillation.',
        '',
        '| precision | KD step | synthesis round (g=2) | peak memory |',
        '|---|---|---|---|',
    ]
    for r in rows:
        mem = (f"{r['max_memory_gib']:.1f} GiB" if 'max_memory_gib' in r
               else '—')
        lines.append(f"| {r['precision']} | {r['kd_step_s'] * 1e3:.1f} ms | "
                     f"{r['synth_round_s'] * 1e3:.1f} ms | {mem} |")
    text = '\n'.join(lines) + '\n'
    print(text)
    if args.docs:
        with open(args.docs, 'a') as f:
            f.write(text)


if __name__ == '__main__':
    main()
