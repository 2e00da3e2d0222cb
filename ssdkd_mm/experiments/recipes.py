# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Every method's recipe as its authors published it, as data.

Read (never copied) from zju-vipa/Fast-Datafree at commit
``762711080609e635c99030a90b050fbf287933cf``: ``scripts/fast_cifar.sh``,
``scripts/deepinv_cifar.sh``, ``scripts/cmi_cifar.sh``, ``datafree_kd.py``
(argument defaults, the epoch loop, the student optimiser and cosine),
``datafree/synthesis/fast_meta.py`` (round counter, warm-up, ``reset_l0``)
and ``datafree/synthesis/{deepinversion,contrastive,generative}.py``
(DeepInversion, CMI and DFQ in that harness).
docs/methods.md lists each value against its source and every deviation.
"""
from typing import Dict

#: where the values below were read
SOURCE = ('zju-vipa/Fast-Datafree@7627110 (scripts/fast_cifar.sh, '
          'scripts/deepinv_cifar.sh, scripts/cmi_cifar.sh, datafree_kd.py, '
          'datafree/synthesis/{fast_meta,deepinversion,contrastive,'
          'generative}.py)')

#: Fast-DFKD's schedule and student optimiser (scripts/fast_cifar.sh, all
#: 15 lines alike; datafree_kd.py's loop): 220 epochs of which 20 warm-up
#: (synthesis only); one synthesis round of ``batch_size`` images then
#: ``kd_steps`` student steps at ``batch_size`` per epoch (ep_steps =
#: kd_steps = 400); SGD lr 0.2, momentum 0.9, weight decay 1e-4 (the
#: default); cosine with T_max 200 epochs, eta_min 2e-4, stepped after each
#: non-warm-up epoch; KL at T = 20; BN-statistics weight 10, BN momentum 0.9;
#: reset_l0 when the round counter (1-based) reaches warm-up + 120.
FAST_SCHEDULE = dict(
    epochs=220, warmup=20, kd_steps=400, batch_size=256,
    lr=0.2, momentum=0.9, weight_decay=1e-4, cosine_epochs=200,
    eta_min=2e-4, T=20.0, bn=10.0, bn_mmt=0.9, reset_l0_after_warmup=120)

#: Fast-k: generator steps per round, inner lr of the generator, lr of z
FAST_K: Dict[str, Dict] = {
    'fast2': dict(g_steps=2, lr_g=5e-3, lr_z=0.015),
    'fast5': dict(g_steps=5, lr_g=3e-3, lr_z=0.01),
    'fast10': dict(g_steps=10, lr_g=2e-3, lr_z=0.01),
}

#: per-teacher loss weights of scripts/fast_cifar.sh (the script runs
#: CIFAR-100 and says "modify --dataset (and nothing else)" for CIFAR-10;
#: the WRN-40-2 lines give no --teacher: datafree_kd.py's default wrn40_2)
PAIR_WEIGHTS: Dict[str, Dict[str, float]] = {
    'resnet34': dict(adv=1.33, bn=10.0, oh=0.5),
    'vgg11': dict(adv=1.0, bn=10.0, oh=0.5),
    'wrn40_2': dict(adv=1.1, bn=10.0, oh=0.4),
}

#: DeepInversion in Fast-DFKD's harness (scripts/deepinv_cifar.sh): pixels
#: optimised per batch; the script's g_steps is 1000, the tables' method
#: "DeepInv-2k" 2,000 (the default here); tv = l2 = 0 in datafree_kd.py.
DEEPINV = dict(iterations=2000, script_iterations=1000, lr_g=0.1, bn=10.0,
               oh=1.0, adv=1.0, tv=0.0, l2=0.0, kd_steps=400, lr=0.1,
               epochs=200, T=20.0, batch_size=256)
#: the script's "tuned fast version for further comparison"
DEEPINV_FAST = dict(DEEPINV, iterations=10, script_iterations=10, lr_g=1.0,
                    kd_steps=200)
# (CMI's script gives no --epochs: datafree_kd.py's default 200.)

#: CMI (scripts/cmi_cifar.sh, datafree_kd.py): generator nz 256, bank of
#: 40,960 features, 4,096 negatives, head dim 256; g_steps 200 in the
#: script, "CMI-500" in the tables (500, the default here).
CMI = dict(iterations=500, script_iterations=200, lr_g=1e-3, adv=0.5,
           bn=1.0, oh=1.0, cr=0.8, cr_T=0.2, nz=256, bank_size=40960,
           n_neg=4096, head_dim=256, kd_steps=400, lr=0.1, epochs=200,
           T=20.0, batch_size=256,
           # datafree_kd.py: a ResNet-34 teacher's four stage outputs,
           # every BN of the others
           feature_layers='auto')

#: DFQ in the same harness (datafree_kd.py's generative branch: generator
#: nz 256, BN-statistics + one-hot + adversarial terms). No script ships and
#: datafree_kd.py's weight defaults are 0, so bn / oh / adv = 1 here are
#: OURS (a named deviation in docs/methods.md); lr_g 1e-3 and g_steps 1
#: are datafree_kd.py's defaults: one synthesize() of g_steps generator
#: steps per epoch, then kd_steps student steps, each on a fresh generator
#: batch (no pool); student lr 0.1 (default), 200 epochs, T 1 (the KLDiv
#: default of that branch).
DFQ = dict(nz=256, lr_g=1e-3, iterations=1, bn=1.0, oh=1.0, adv=1.0,
           T=1.0, kd_steps=400, lr=0.1, epochs=200, batch_size=256)

#: DeepInversion, CMI and DFQ as the harness runs them: name -> the
#: synthesizer's registry type and published arguments, and the student side
#: of datafree_kd.py (rounds = epochs, student steps per round = kd_steps at
#: ``batch_size``, SGD lr, KL temperature T; pool: every round's images are
#: kept in an ImagePool drawn uniformly, or (DFQ) each student step takes a
#: fresh generator batch). No warm-up (``--warmup`` defaults to 0); one
#: round per epoch (ep_steps // kd_steps = 1); cosine T_max 200 epochs,
#: eta_min 2e-4, momentum 0.9 and weight decay 1e-4 (hard-coded / default).
BASELINES: Dict[str, Dict] = {
    'deepinv': dict(
        type='DeepInversionSynthesizer',
        kwargs={k: DEEPINV[k] for k in ('iterations', 'lr_g', 'bn', 'oh',
                                        'adv')},
        student=dict(rounds=DEEPINV['epochs'], steps_per_round=400,
                     batch_size=256, lr=DEEPINV['lr'], T=DEEPINV['T'],
                     pool=True)),
    'deepinv-fast': dict(
        type='DeepInversionSynthesizer',
        kwargs={k: DEEPINV_FAST[k] for k in ('iterations', 'lr_g', 'bn',
                                             'oh', 'adv')},
        student=dict(rounds=DEEPINV_FAST['epochs'], steps_per_round=200,
                     batch_size=256, lr=DEEPINV_FAST['lr'],
                     T=DEEPINV_FAST['T'], pool=True)),
    'cmi': dict(
        type='CMISynthesizer',
        kwargs={k: CMI[k] for k in ('iterations', 'lr_g', 'bn', 'oh', 'adv',
                                    'cr', 'cr_T', 'nz', 'bank_size', 'n_neg',
                                    'head_dim', 'feature_layers')},
        student=dict(rounds=CMI['epochs'], steps_per_round=400,
                     batch_size=256, lr=CMI['lr'], T=CMI['T'], pool=True)),
    'dfq': dict(
        type='DFQSynthesizer',
        kwargs={k: DFQ[k] for k in ('nz', 'iterations', 'lr_g', 'bn', 'oh',
                                    'adv')},
        student=dict(rounds=DFQ['epochs'], steps_per_round=400,
                     batch_size=256, lr=DFQ['lr'], T=DFQ['T'], pool=False)),
}
#: the harness's student optimiser beside the per-method lr
#: (datafree_kd.py: SGD momentum 0.9, --weight_decay default 1e-4)
BASELINE_SGD = dict(momentum=0.9, weight_decay=1e-4)


def fast_schedule(kd_steps: int = FAST_SCHEDULE['kd_steps'],
                  warmup: int = FAST_SCHEDULE['warmup'],
                  epochs: int = FAST_SCHEDULE['epochs'],
                  reset_after: int = FAST_SCHEDULE['reset_l0_after_warmup']
                  ) -> Dict[str, int]:
    """Fast-DFKD's epochs in our iterations: ``warmup`` synthesis-only
    iterations, then one round at the first of every ``kd_steps`` student
    steps. The published reset comes at the start of the round whose
    1-based number is ``warmup + reset_after``, i.e. epoch index
    ``warmup + reset_after - 1``."""
    reset_epoch = warmup + reset_after - 1
    return dict(
        warmup_iters=warmup,
        synth_interval=kd_steps,
        max_iters=warmup + (epochs - warmup) * kd_steps,
        reset_l0_iter=warmup + (reset_epoch - warmup) * kd_steps)


def fast_published_options(method: str) -> Dict:
    """``cfg.merge_from_dict`` options of Fast-k's published values (the
    replay switches and the hook values are added by
    :mod:`ssdkd_mm.experiments.methods`)."""
    k = FAST_K[method]
    s = FAST_SCHEDULE
    sched = fast_schedule()
    return {
        'warmup_iters': sched['warmup_iters'],
        'train_cfg.max_iters': sched['max_iters'],
        # best_acc1 is taken after every epoch
        'train_cfg.val_interval': s['kd_steps'],
        'model.inversion.g_steps': k['g_steps'],
        'model.inversion.lr_g': k['lr_g'],
        'model.inversion.lr_z': k['lr_z'],
        'model.inversion.bn_weight': s['bn'],
        'model.inversion.bn_momentum': s['bn_mmt'],
        'model.inversion.synth_batch_size': s['batch_size'],
        'model.kd.batch_size': s['batch_size'],
        'model.kd.tau': s['T'],
        'optim_wrapper.generator.optimizer.lr': k['lr_g'] * k['g_steps'],
        'optim_wrapper.architecture.optimizer.lr': s['lr'],
        'optim_wrapper.architecture.optimizer.momentum': s['momentum'],
        'optim_wrapper.architecture.optimizer.weight_decay':
        s['weight_decay'],
    }


def baseline_schedule(method: str) -> Dict[str, int]:
    """The harness's epochs in our iterations: no warm-up, a round at the
    first of every ``steps_per_round`` student steps, ``rounds`` rounds."""
    st = BASELINES[method]['student']
    return dict(warmup_iters=0, synth_interval=st['steps_per_round'],
                max_iters=st['rounds'] * st['steps_per_round'],
                reset_l0_iter=None)


def baseline_published_options(method: str) -> Dict:
    """``cfg.merge_from_dict`` options of a baseline's published values:
    its synthesizer (replacing SSD-KD's inversion settings) and the student
    side (the replay switches and the hook values are added by
    :mod:`ssdkd_mm.experiments.methods`)."""
    b = BASELINES[method]
    st = b['student']
    sched = baseline_schedule(method)
    return {
        'warmup_iters': sched['warmup_iters'],
        'train_cfg.max_iters': sched['max_iters'],
        # best_acc1 is taken after every epoch
        'train_cfg.val_interval': st['steps_per_round'],
        # DFQSynthesizer feeds no pool: fresh batches (pool=False)
        'model.inversion': dict(_delete_=True, type=b['type'],
                                synth_batch_size=st['batch_size'],
                                **b['kwargs']),
        'model.kd.batch_size': st['batch_size'],
        'model.kd.tau': st['T'],
        'optim_wrapper.architecture.optimizer.lr': st['lr'],
        'optim_wrapper.architecture.optimizer.momentum':
        BASELINE_SGD['momentum'],
        'optim_wrapper.architecture.optimizer.weight_decay':
        BASELINE_SGD['weight_decay'],
    }


__all__ = ['SOURCE', 'FAST_SCHEDULE', 'FAST_K', 'PAIR_WEIGHTS', 'DEEPINV',
           'DEEPINV_FAST', 'CMI', 'DFQ', 'BASELINES', 'BASELINE_SGD',
           'fast_schedule', 'fast_published_options', 'baseline_schedule',
           'baseline_published_options']
