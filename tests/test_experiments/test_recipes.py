"""Fast-k as published (zju-vipa/Fast-Datafree scripts/fast_cifar.sh,
datafree_kd.py, datafree/synthesis/fast_meta.py): the values, every CIFAR
config's per-teacher loss weights, and the published ratio of synthesis
rounds to student steps, counted on the hook and on a real tiny run."""
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from conftest import ROOT
from mmengine.config import Config
from mmrazor.registry import HOOKS

from ssdkd_mm.experiments import methods, recipes
from ssdkd_mm.experiments.paper import DATASETS, PAIRS, config_name
from ssdkd_mm.engine.config import complete_config, load_config

PAPER_CONFIGS = [(p, d) for p in PAIRS for d in DATASETS]


def _cfg(pair='wrn40_2_wrn16_1', dataset='cifar10'):
    return Config.fromfile(osp.join(ROOT, 'configs',
                                    config_name(pair, dataset)))


def _inversion_hook(cfg):
    return next(h for h in cfg.custom_hooks
                if h['type'].endswith('SSDKDInversionHook'))


def test_published_values():
    assert recipes.FAST_K == {
        'fast2': dict(g_steps=2, lr_g=5e-3, lr_z=0.015),
        'fast5': dict(g_steps=5, lr_g=3e-3, lr_z=0.01),
        'fast10': dict(g_steps=10, lr_g=2e-3, lr_z=0.01)}
    s = recipes.FAST_SCHEDULE
    assert (s['epochs'], s['warmup'], s['kd_steps'], s['batch_size']) == (
        220, 20, 400, 256)
    assert (s['lr'], s['momentum'], s['weight_decay']) == (0.2, 0.9, 1e-4)
    assert (s['cosine_epochs'], s['eta_min'], s['T']) == (200, 2e-4, 20.0)
    assert (s['bn'], s['bn_mmt'], s['reset_l0_after_warmup']) == (
        10.0, 0.9, 120)
    assert recipes.PAIR_WEIGHTS == {
        'resnet34': dict(adv=1.33, bn=10.0, oh=0.5),
        'vgg11': dict(adv=1.0, bn=10.0, oh=0.5),
        'wrn40_2': dict(adv=1.1, bn=10.0, oh=0.4)}
    # 200 epochs of 400 student steps after 20 warm-up rounds; the reset
    # at the 140th round (1-based): epoch 139, after 119 KD epochs
    assert recipes.fast_schedule() == dict(
        warmup_iters=20, synth_interval=400, max_iters=20 + 80000,
        reset_l0_iter=20 + 119 * 400)
    assert recipes.DEEPINV['iterations'] == 2000
    assert (recipes.DEEPINV['lr_g'], recipes.DEEPINV['bn'],
            recipes.DEEPINV['oh'], recipes.DEEPINV['adv']) == (0.1, 10, 1, 1)
    assert (recipes.DEEPINV_FAST['iterations'],
            recipes.DEEPINV_FAST['lr_g']) == (10, 1.0)
    c = recipes.CMI
    assert (c['iterations'], c['lr_g'], c['cr'], c['cr_T'], c['bn'],
            c['oh'], c['adv']) == (500, 1e-3, 0.8, 0.2, 1.0, 1.0, 0.5)


@pytest.mark.parametrize('pair,dataset', PAPER_CONFIGS)
def test_every_cifar_config_carries_its_teachers_published_weights(
        pair, dataset):
    w = recipes.PAIR_WEIGHTS[PAIRS[pair]['teacher']]
    for method in ('ssdkd', 'fast2'):
        cfg = _cfg(pair, dataset)
        methods.apply_method(cfg, method)
        complete_config(cfg, log=False)
        inv = cfg.model.inversion
        assert (inv.adv_weight, inv.oh_weight, inv.bn_weight) == (
            w['adv'], w['oh'], w['bn']), method


@pytest.mark.parametrize('k', ['fast2', 'fast5', 'fast10'])
def test_fast_k_as_published_on_a_paper_config(k):
    cfg = _cfg()
    methods.apply_method(cfg, k)
    complete_config(cfg, log=False)
    pub, s = recipes.FAST_K[k], recipes.FAST_SCHEDULE
    hook = _inversion_hook(cfg)
    assert (hook['warmup_iters'], hook['synth_interval'],
            hook['reset_l0_iter']) == (20, 400, 47620)
    assert cfg.train_cfg.max_iters == 80020
    assert cfg.train_cfg.val_interval == 400  # best_acc1: every epoch
    cos = cfg.param_scheduler.architecture[0]
    assert (cos['begin'], cos['end'], cos['T_max'], cos['eta_min']) == (
        20, 80020, 80000, 2e-4)
    opt = cfg.optim_wrapper.architecture.optimizer
    assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == (
        'SGD', 0.2, 0.9, 1e-4)
    # one round of B images per 400 student steps at batch B
    assert cfg.model.inversion.synth_batch_size == cfg.model.kd.batch_size \
        == s['batch_size']
    inv = cfg.model.inversion
    assert (inv.g_steps, inv.lr_g, inv.lr_z) == (
        pub['g_steps'], pub['lr_g'], pub['lr_z'])
    assert (inv.bn_weight, inv.bn_momentum, cfg.model.kd.tau) == (
        10.0, 0.9, 20.0)
    assert cfg.optim_wrapper.generator.optimizer.lr == pytest.approx(
        pub['lr_g'] * pub['g_steps'])
    # Fast-DFKD's replay: unbounded uniform pool, φ off
    assert cfg.model.replay_buffer.unbounded is True
    assert cfg.model.sampler.mode == 'uniform'
    assert cfg.model.modulating.gamma == 0.0


def test_the_former_switch_keeps_ssdkds_schedule():
    cfg = _cfg()
    methods.apply_method(cfg, 'fast2-ssdkd-schedule')
    complete_config(cfg, log=False)
    assert _inversion_hook(cfg)['synth_interval'] == 100
    assert _inversion_hook(cfg).get('reset_l0_iter') is None
    assert cfg.train_cfg.max_iters == 20020
    assert cfg.model.inversion.g_steps == 2
    assert cfg.model.replay_buffer.unbounded is True
    ssdkd = load_config(osp.join(ROOT, 'configs', config_name(
        'wrn40_2_wrn16_1', 'cifar10')), log=False)
    assert cfg.train_cfg.max_iters == ssdkd.train_cfg.max_iters


class _Gen(torch.nn.Module):

    def __init__(self):
        super().__init__()
        self.l1 = torch.nn.Linear(2, 2)
        self.resets = 0

    def reset_l0(self):
        self.resets += 1


def test_published_ratio_counted_on_the_hook_over_the_whole_run():
    """Drive the configured SSDKDInversionHook through all 80,020
    iterations: 220 rounds (20 warm-up + one per 400 student steps),
    80,000 student steps, one reset_l0 at the 140th round."""
    cfg = _cfg()
    methods.apply_method(cfg, 'fast2')
    complete_config(cfg, log=False)
    hook_cfg = dict(_inversion_hook(cfg))
    hook = HOOKS.build(hook_cfg)
    gen = _Gen()
    alg = SimpleNamespace(
        generator=gen, synthesis_due=False, distill_due=False,
        adversarial=False,
        replay=SimpleNamespace(buffer=SimpleNamespace(n_inserted_total=0)))
    alg.buffer = alg.replay.buffer
    alg.synthesize = None
    runner = SimpleNamespace(model=alg, iter=0)
    rounds = kd = 0
    reset_at_round = None
    steps_between = []
    last = None
    for it in range(cfg.train_cfg.max_iters):
        runner.iter = it
        hook.before_train_iter(runner, it)
        if gen.resets and reset_at_round is None:
            reset_at_round = rounds + 1  # the round of this iteration
        if alg.synthesis_due:
            rounds += 1
            if last is not None and alg.distill_due:
                steps_between.append(kd - last)
            if alg.distill_due:
                last = kd
        kd += alg.distill_due
    assert rounds == 220 and kd == 80000
    assert set(steps_between) == {400} and len(steps_between) == 199
    assert gen.resets == 1 and reset_at_round == 140


@pytest.mark.e2e
def test_published_ratio_counted_in_a_real_tiny_run(tmp_path):
    """The recipe applied to a tiny SSD-KD run of 20 + 401 iterations: 20
    warm-up rounds, then one round of B images at student steps 0 and 400
    and none in between (22 rounds, 401 student steps)."""
    from _tiny_ssdkd import write_tiny_config
    from mmengine.registry import RUNNERS
    path = write_tiny_config(tmp_path, max_iters=20 + 401, warmup=20,
                             ckpt_interval=10**6)
    cfg = Config.fromfile(path)
    methods.apply_method(cfg, 'fast2')
    cfg.merge_from_dict({
        'train_cfg.max_iters': 20 + 401,
        'model.inversion.synth_batch_size': 4,
        'model.kd.batch_size': 4,
        'model.replay_buffer.capacity': 4,
        'default_hooks.logger.interval': 1000,
    })
    for h in cfg.custom_hooks:
        if 'log_interval' in h:
            h['log_interval'] = 1000
    for s in cfg.param_scheduler.architecture:
        s.update(end=421, T_max=401)
    cfg.work_dir = str(tmp_path / 'work')
    torch.set_num_threads(1)
    runner = RUNNERS.build(cfg)
    runner.train()
    alg = runner.model
    assert alg.rounds == 22 and alg.kd_steps == 401
    # the pool keeps every round's images (B per round), nothing evicted
    assert alg.buffer.n_inserted_total == 22 * 4 == len(alg.buffer)


# DeepInversion, CMI and DFQ as the harness runs them (scripts/
# deepinv_cifar.sh, scripts/cmi_cifar.sh, datafree_kd.py's defaults and
# loop, datafree/synthesis/{deepinversion,contrastive,generative}.py)
BASELINES = ('deepinv', 'deepinv-fast', 'cmi', 'dfq')


def test_baseline_published_values():
    b = recipes.BASELINES
    assert set(b) == set(BASELINES)
    assert b['deepinv']['kwargs'] == dict(iterations=2000, lr_g=0.1,
                                          bn=10.0, oh=1.0, adv=1.0)
    assert b['deepinv-fast']['kwargs'] == dict(iterations=10, lr_g=1.0,
                                               bn=10.0, oh=1.0, adv=1.0)
    assert b['cmi']['kwargs'] == dict(
        iterations=500, lr_g=1e-3, bn=1.0, oh=1.0, adv=0.5, cr=0.8,
        cr_T=0.2, nz=256, bank_size=40960, n_neg=4096, head_dim=256,
        feature_layers='auto')
    assert b['dfq']['kwargs'] == dict(nz=256, iterations=1, lr_g=1e-3,
                                      bn=1.0, oh=1.0, adv=1.0)
    # the scripts' own inner iterations, recorded beside the tables' ones
    assert (recipes.DEEPINV['script_iterations'],
            recipes.CMI['script_iterations']) == (1000, 200)
    # student side: rounds (epochs), student steps per round (kd_steps) at
    # batch 256, SGD lr 0.1, KL at T 20 (DFQ: the KLDiv default T 1)
    expect = {'deepinv': (200, 400, 20.0, True),
              'deepinv-fast': (200, 200, 20.0, True),
              'cmi': (200, 400, 20.0, True),
              'dfq': (200, 400, 1.0, False)}
    for name, (rounds, steps, T, pool) in expect.items():
        st = b[name]['student']
        assert st == dict(rounds=rounds, steps_per_round=steps,
                          batch_size=256, lr=0.1, T=T, pool=pool), name
        assert recipes.baseline_schedule(name) == dict(
            warmup_iters=0, synth_interval=steps, max_iters=rounds * steps,
            reset_l0_iter=None)
    assert recipes.BASELINE_SGD == dict(momentum=0.9, weight_decay=1e-4)


@pytest.mark.parametrize('name', BASELINES)
def test_baseline_as_published_on_a_paper_config(name):
    cfg = _cfg()
    methods.apply_method(cfg, name)
    complete_config(cfg, log=False)
    b = recipes.BASELINES[name]
    st = b['student']
    hook = _inversion_hook(cfg)
    assert (hook['warmup_iters'], hook['synth_interval'],
            hook['reset_l0_iter']) == (0, st['steps_per_round'], None)
    n = st['rounds'] * st['steps_per_round']
    assert cfg.train_cfg.max_iters == n
    assert cfg.train_cfg.val_interval == st['steps_per_round']
    cos = cfg.param_scheduler.architecture[0]
    assert (cos['begin'], cos['end'], cos['T_max'], cos['eta_min']) == (
        0, n, n, 2e-4)
    opt = cfg.optim_wrapper.architecture.optimizer
    assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == (
        'SGD', 0.1, 0.9, 1e-4)
    assert cfg.model.kd.batch_size == st['batch_size'] == 256
    assert cfg.model.kd.tau == st['T']
    # the method's own synthesizer with its published arguments, nothing
    # of SSD-KD's inversion settings left
    inv = dict(cfg.model.inversion)
    assert inv.pop('type') == b['type']
    assert inv.pop('synth_batch_size') == 256
    assert inv == b['kwargs']
    # the pool or fresh batches: the synthesizer type says which
    from ssdkd_mm.registry import SYNTHESIZERS
    assert SYNTHESIZERS.get(b['type']).feeds_replay is st['pool']
    # every round's images kept, drawn uniformly, φ off
    assert cfg.model.replay_buffer.unbounded is True
    assert cfg.model.sampler.mode == 'uniform'
    assert cfg.model.modulating.gamma == 0.0
    assert cfg.model.modulating.diversity == 'none'


def test_baseline_keeps_the_configs_precision():
    from ssdkd_mm.experiments.common import SSDKD_CFG, config_path
    cfg = Config.fromfile(config_path(SSDKD_CFG))
    assert cfg.model.inversion.autocast == 'bfloat16'
    methods.apply_method(cfg, 'cmi')
    assert cfg.model.inversion.autocast == 'bfloat16'
    assert 'g_steps' not in cfg.model.inversion
    # the option dict is not consumed by the merge: a second config too
    cfg2 = _cfg()
    methods.apply_method(cfg2, 'cmi')
    assert 'g_steps' not in cfg2.model.inversion
    assert 'autocast' not in cfg2.model.inversion


@pytest.mark.parametrize('name', BASELINES)
def test_baseline_ratio_counted_on_the_hook_over_the_whole_run(name):
    """Drive the configured hook through the whole run: one round at the
    first of every ``steps_per_round`` student steps, ``rounds`` rounds,
    every iteration a student step (no warm-up), no reset."""
    cfg = _cfg()
    methods.apply_method(cfg, name)
    complete_config(cfg, log=False)
    hook = HOOKS.build(dict(_inversion_hook(cfg)))
    gen = _Gen()
    alg = SimpleNamespace(
        generator=gen, synthesis_due=False, distill_due=False,
        adversarial=False,
        replay=SimpleNamespace(buffer=SimpleNamespace(n_inserted_total=0)))
    alg.buffer, alg.synthesize = alg.replay.buffer, None
    runner = SimpleNamespace(model=alg, iter=0)
    st = recipes.BASELINES[name]['student']
    rounds = kd = 0
    between, last = [], None
    for it in range(cfg.train_cfg.max_iters):
        runner.iter = it
        hook.before_train_iter(runner, it)
        assert alg.distill_due and alg.adversarial
        if alg.synthesis_due:
            rounds += 1
            if last is not None:
                between.append(kd - last)
            last = kd
        kd += 1
    assert rounds == st['rounds'] and kd == st['rounds'] * \
        st['steps_per_round']
    assert set(between) == {st['steps_per_round']}
    assert gen.resets == 0
