"""DeepInversion, CMI and DFQ as published, run through SSD-KD's code path:
``tools/train.py CONFIG --method NAME`` on the Fashion-MNIST config and
every CIFAR config (generated data, random teachers, a few iterations with
the inner iterations and sizes reduced here only), with the ratio of
synthesis rounds to student steps counted on the run, and the benchmark
accepting the names."""
import os.path as osp
import subprocess
import sys

import pytest
import torch
from _cifar_fake import TINY_RUN, write_cifar
from _fmnist_fake import write_idx_set
from conftest import ROOT
from mmengine.config import Config
from mmrazor.registry import MODELS

from ssdkd_mm.experiments import benchmark as bm
from ssdkd_mm.experiments import methods, recipes
from ssdkd_mm.experiments.paper import DATASETS, PAIRS, config_name
from ssdkd_mm.models.synthesis import (CMISynthesizer,
                                       DeepInversionSynthesizer,
                                       DFQSynthesizer)

BASELINES = ('deepinv', 'deepinv-fast', 'cmi', 'dfq')
FMNIST = osp.join(ROOT, 'configs/ssdkd/ssdkd_resnet34_resnet18_fmnist.py')
CLASSES = {'deepinv': DeepInversionSynthesizer,
           'deepinv-fast': DeepInversionSynthesizer,
           'cmi': CMISynthesizer, 'dfq': DFQSynthesizer}


def small(method):
    """Options that shrink a run to 3 iterations, a round every 2 (at
    iterations 0 and 2), 2 inner steps, batches of 4 (test-only)."""
    opts = {
        'model.inversion.iterations': 2,
        'model.inversion.synth_batch_size': 4,
        'model.kd.batch_size': 4,
        'train_cfg.max_iters': 3,
        'train_cfg.val_interval': 3,
        'default_hooks.checkpoint.interval': 3,
        'custom_hooks.0.synth_interval': 2,
    }
    if method == 'cmi':  # the published bank is 40,960 rows
        opts.update({'model.inversion.bank_size': 64,
                     'model.inversion.n_neg': 16})
    return opts


@pytest.mark.e2e
@pytest.mark.parametrize('method', BASELINES)
def test_train_tool_runs_the_method_on_the_fmnist_config(tmp_path, method):
    cfg = Config.fromfile(FMNIST)
    torch.manual_seed(1)
    teacher = MODELS.build(cfg.model.teacher)
    ckpt = tmp_path / 'teacher.pth'
    torch.save(dict(state_dict=teacher.state_dict()), ckpt)
    data = write_idx_set(str(tmp_path / 'fmnist'))
    opts = dict(small(method), **{
        'model.teacher_ckpt': str(ckpt),
        'val_dataloader.dataset.data_root': data,
        'test_dataloader.dataset.data_root': data,
    })
    work = tmp_path / 'work'
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools/train.py'), FMNIST,
         '--method', method, '--work-dir', str(work), '--cfg-options'] +
        [f'{k}={v}' for k, v in opts.items()],
        capture_output=True, text=True, timeout=600, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the run's counters, read back from its last checkpoint: rounds at
    # iterations 0 and 2, a student step at every iteration
    state = torch.load(work / 'iter_3.pth', map_location='cpu',
                       weights_only=False)
    inv = state['ssdkd']
    assert inv['rounds'] == 2 and inv['kd_steps'] == 3
    assert inv['synthesizer']['rounds'] == 2
    buf = inv['replay']['buffer']
    if method == 'dfq':  # fresh generator batches, no pool
        assert buf['size'] == buf['n_inserted_total'] == 0
    else:  # every round's images kept (unbounded, nothing evicted)
        assert buf['size'] == buf['n_inserted_total'] == 2 * 4
        assert buf['unbounded'] is True
    # the written config is the method's: its synthesizer, the published
    # schedule (the test shrank only sizes and the interval)
    written = Config.fromfile(work / osp.basename(FMNIST))
    assert written.model.inversion.type == recipes.BASELINES[method]['type']
    assert written.model.inversion.autocast == 'bfloat16'
    assert written.model.kd.tau == recipes.BASELINES[method]['student']['T']
    assert written.warmup_iters == 0
    assert 'Traceback' not in proc.stderr


PAPER_CONFIGS = [(p, d) for p in PAIRS for d in DATASETS]


@pytest.mark.e2e
@pytest.mark.parametrize('method', BASELINES)
@pytest.mark.parametrize('pair,dataset', PAPER_CONFIGS)
def test_method_runs_on_every_cifar_config(tmp_path, monkeypatch, pair,
                                           dataset, method):
    from mmengine.registry import RUNNERS
    from mmpretrain.datasets import CIFAR10
    # Generated files cannot match the real archives' md5 sums.
    monkeypatch.setattr(CIFAR10, '_check_integrity', lambda self: True)
    cfg = Config.fromfile(osp.join(ROOT, 'configs',
                                   config_name(pair, dataset)))
    methods.apply_method(cfg, method)
    cfg.merge_from_dict({
        **{k: v for k, v in TINY_RUN.items() if 'inversion' not in k
           and k != 'warmup_iters'},
        **small(method),
        # one round and one student step: the code path (the ratio is
        # counted on the Fashion-MNIST run and over a whole run on the hook)
        'model.inversion.iterations': 1,
        'train_cfg.max_iters': 1,
        'model.teacher_ckpt': None,  # random teacher weights
        'model.replay_buffer.capacity': 16,
        # the code path only: no evaluation, no checkpoint
        'train_cfg.val_begin': 10**6,
        'default_hooks.checkpoint': None,
    })
    cfg.custom_hooks[0]['eval_teacher'] = False
    for loader in ('val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = write_cifar(str(tmp_path), dataset)
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
    cfg.work_dir = str(tmp_path / 'work')
    runner = RUNNERS.build(cfg)  # SSDKDRunner: completes the config
    runner.train()
    alg = runner.model
    assert isinstance(alg.synthesizer, CLASSES[method])
    assert alg.synthesizer.iterations == 1
    assert alg.rounds == alg.synthesizer.rounds == alg.kd_steps == 1
    assert len(alg.buffer) == (0 if method == 'dfq' else 4)
    assert runner.model.num_classes == (10 if dataset == 'cifar10' else 100)


def test_benchmark_accepts_the_names_and_builds_each_config(tmp_path):
    """The screen's command line is accepted, and each method's config,
    fitted to the budget, builds its algorithm with the method's source."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'benchmark_tool', osp.join(ROOT, 'tools/benchmark.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    args = tool.parse_args(['--methods', 'ssdkd', 'fast2', 'deepinv-fast',
                            'cmi', 'dfq', '--seeds', '0', '--budget', '150',
                            '--no-overhead'])
    names = bm.resolve_methods(args.methods)
    assert names == ['ssdkd', 'fast2', 'deepinv-fast', 'cmi', 'dfq']
    for name in names[2:] + ['deepinv']:
        cfg = bm.build_config(name, 'teacher.pth', 'data/x', budget_s=150,
                              points_s=[50, 100], seed=0,
                              work_dir=str(tmp_path))
        inv_hook = next(h for h in cfg.custom_hooks
                        if h['type'].endswith('SSDKDInversionHook'))
        st = recipes.BASELINES[name]['student']
        assert inv_hook['synth_interval'] == st['steps_per_round']
        assert cfg.warmup_iters == 0
        model = cfg.model
        model.teacher_ckpt = None
        if name == 'cmi':  # the published bank: 40,960 rows
            model.inversion.bank_size = 64
        alg = MODELS.build(model)
        assert isinstance(alg.synthesizer, CLASSES[name])
        assert alg.synthesizer.iterations == \
            recipes.BASELINES[name]['kwargs']['iterations']
        assert alg.synthesizer.batch_size == alg.kd_step.batch_size == 256
