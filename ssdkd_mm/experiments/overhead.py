# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Framework overhead: SSD-KD's synthesis round and KD step run by the
plugin (mmengine Runner, hooks, registries, replay buffer, sampler) against a
plain-PyTorch loop doing the same computation on copies of the same models,
in the same process.

The plain loop is written out here (classification only) from the method's
definition, not by calling the plugin's code: BN-statistics hooks with
momentum blending, FOMAML meta-generator with ``g_steps`` inner Adam steps,
φ-weighted CE and masked adversarial KL, insertion of the best batch into a
fixed-size tensor buffer by lowest priority, proportional priority sampling
with importance weights, crop + flip augmentation, τ²·KL student step, and
the priority update.
"""
import copy
import statistics
import time
from typing import Dict, List

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.hooks import Hook

from ..engine.config import load_config
from ..models.precision import autocast
from .common import SSDKD_CFG, config_path
from .common import set_data_root



class _IterClock(Hook):
    """Wall-clock time of each training iteration (loop, hooks, logging);
    from iteration ``kd_only_from`` on, the inversion hook stops
    synthesising (it runs after this hook)."""

    priority = 'HIGHEST'

    def __init__(self, kd_only_from: int):
        self.starts: List[float] = []
        self.end = None
        self.kd_only_from = kd_only_from

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter == self.kd_only_from:
            for h in runner.hooks:
                if type(h).__name__ == 'SSDKDInversionHook':
                    h.synth_interval = 10**9
        self.starts.append(time.perf_counter())

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.end = time.perf_counter()

    def durations(self) -> List[float]:
        ts = self.starts + [self.end]
        return [b - a for a, b in zip(ts, ts[1:])]


# ------------------------------------------------------------ plain loop
def _crop_flip(x: torch.Tensor, pad: int, hflip: bool) -> torch.Tensor:
    n, c, h, w = x.shape
    if pad:
        xp = F.pad(x, (pad, pad, pad, pad))
        dy, dx = torch.randint(0, 2 * pad + 1, (2, n), device=x.device)
        r = dy[:, None] + torch.arange(h, device=x.device)
        q = dx[:, None] + torch.arange(w, device=x.device)
        xp = xp.gather(2, r[:, None, :, None].expand(n, c, h, w + 2 * pad))
        x = xp.gather(3, q[:, None, None, :].expand(n, c, h, w))
    if hflip:
        flip = torch.rand(n, device=x.device) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    return x


def _kl(s, t, tau):
    """(N,) τ²·KL(softmax(t/τ) ‖ softmax(s/τ))."""
    log_s = F.log_softmax(s / tau, 1)
    log_t = F.log_softmax(t / tau, 1)
    return (log_t.exp() * (log_t - log_s)).sum(1) * tau * tau


class PlainSSDKD:
    """SSD-KD for classifiers in plain PyTorch, for timing only."""

    def __init__(self, alg) -> None:
        from ..utils.modules import unwrap
        self.teacher = copy.deepcopy(unwrap(alg.teacher)).eval()
        self.student = copy.deepcopy(unwrap(alg.student))
        self.generator = copy.deepcopy(unwrap(alg.generator))
        syn, step = alg.synthesizer, alg.kd_step
        self.inv = dict(
            synth_batch_size=syn.batch_size, g_steps=syn.g_steps,
            lr_g=syn.lr_g, lr_z=syn.lr_z, bn_weight=syn.bn_weight,
            oh_weight=syn.oh_weight, adv_weight=syn.adv_weight,
            adv_tau=syn.adv_tau, bn_momentum=syn.bn_loss.momentum,
            autocast=syn.autocast)
        self.kd = dict(batch_size=step.batch_size, tau=step.tau,
                       augment=step.augment_cfg, autocast=step.autocast)
        self.mod = alg.modulating
        self.alpha = alg.replay.sampler.alpha
        self.beta = alg.replay.sampler.beta0
        pre = alg.data_preprocessor
        self.mean = pre.mean.clone()
        self.std = pre.std.clone()
        self.num_classes = alg.num_classes
        self.cl = alg.channels_last
        self.pad = self.kd['augment'].get('crop_padding', 0)
        self.hflip = self.kd['augment'].get('hflip', False)
        self.opt_s = torch.optim.SGD(self.student.parameters(), lr=0.05,
                                     momentum=0.9, weight_decay=5e-4)
        self.opt_g = torch.optim.Adam(
            self.generator.parameters(),
            lr=self.inv['lr_g'] * self.inv['g_steps'], betas=(0.5, 0.999))
        cap = alg.replay.buffer.capacity
        self.images = torch.zeros(cap, *self.generator.img_shape,
                                  dtype=torch.uint8)
        self.labels = torch.zeros(cap, dtype=torch.long)
        self.phi = torch.zeros(cap)
        self.prio = torch.zeros(cap)
        self.filled = 0
        # BN-statistics hooks with momentum-blended batch statistics
        self.bns = [m for m in self.teacher.modules()
                    if isinstance(m, nn.BatchNorm2d)]
        self.ema = [None] * len(self.bns)
        self.batch_stats = [None] * len(self.bns)
        self.terms: List[torch.Tensor] = []
        for i, bn in enumerate(self.bns):
            bn.register_forward_hook(self._bn_hook(i))
        self.hooks_on = False

    def _bn_hook(self, i):
        m = self.inv['bn_momentum']

        def hook(module, inputs, output):
            if not self.hooks_on:
                return
            x = inputs[0].float()
            mean = x.mean((0, 2, 3))
            var = x.var((0, 2, 3), unbiased=False)
            self.batch_stats[i] = (mean.detach(), var.detach())
            if self.ema[i] is not None:
                mean = (1 - m) * mean + m * self.ema[i][0]
                var = (1 - m) * var + m * self.ema[i][1]
            self.terms.append(
                torch.norm(module.running_var - var, 2) +
                torch.norm(module.running_mean - mean, 2))

        return hook

    def _amp(self, dtype):
        # the plugin's precision rule (fp32 where the CPU has no native bf16)
        return autocast(torch.device('cpu'), dtype)

    def _norm(self, x01):
        x = (x01 * 255 - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last) if self.cl \
            else x

    def _phi(self, logits, label):
        p = F.softmax(logits, 1).gather(1, label[:, None])[:, 0]
        unc = 1 - p
        counts = torch.bincount(label, minlength=self.num_classes).float()
        counts = counts + torch.bincount(
            self.labels[:self.filled],
            minlength=self.num_classes).float()
        phi = unc.pow(self.mod.gamma) if self.mod.gamma > 0 else \
            torch.ones_like(unc)
        if self.mod.diversity != 'none':
            f = (counts.sum() / (self.num_classes * counts.clamp_min(1e-6))
                 ).clamp(max=self.mod.kappa)
            phi = phi * f[label]
        return phi

    def synthesize(self) -> None:
        cfg = self.inv
        n = cfg['synth_batch_size']
        z = torch.randn(n, self.generator.latent_dim, requires_grad=True)
        y = torch.randint(0, self.num_classes, (n, ))
        fast_g = copy.deepcopy(self.generator)
        inner = torch.optim.Adam([
            dict(params=[z], lr=cfg['lr_z']),
            dict(params=fast_g.parameters(), lr=cfg['lr_g'])
        ], betas=(0.5, 0.999))
        self.opt_g.zero_grad()
        self.student.eval()
        self.student.requires_grad_(False)
        best, best_x = float('inf'), None
        for _ in range(cfg['g_steps']):
            x01 = fast_g(z)
            x = self._norm(_crop_flip(x01, self.pad, self.hflip))
            self.terms, self.hooks_on = [], True
            with self._amp(cfg['autocast']):
                t = self.teacher(x, mode='tensor').float()
            self.hooks_on = False
            loss_bn = torch.stack(self.terms).sum()
            phi = self._phi(t.detach(), y)
            phi = phi / phi.mean()
            loss_oh = (phi * F.cross_entropy(t, y, reduction='none')).mean()
            with self._amp(cfg['autocast']):
                s = self.student(x, mode='tensor').float()
            agree = (s.argmax(1) == t.argmax(1)).float().detach()
            loss_adv = -(phi * agree * _kl(s, t, cfg['adv_tau'])).mean()
            loss = (cfg['bn_weight'] * loss_bn + cfg['oh_weight'] * loss_oh +
                    cfg['adv_weight'] * loss_adv)
            inner.zero_grad()
            loss.backward()
            if loss.item() < best:
                best, best_x = loss.item(), x01.detach()
            for p, fp in zip(self.generator.parameters(),
                             fast_g.parameters()):
                if fp.grad is not None:
                    p.grad = fp.grad.clone() if p.grad is None else \
                        p.grad + fp.grad
            inner.step()
        self.opt_g.step()
        self.opt_g.zero_grad()
        m = cfg['bn_momentum']
        for i, (mean, var) in enumerate(self.batch_stats):
            self.ema[i] = (mean, var) if self.ema[i] is None else (
                m * self.ema[i][0] + (1 - m) * mean,
                m * self.ema[i][1] + (1 - m) * var)
        self.student.requires_grad_(True)
        self.student.train()
        self._insert(best_x)

    @torch.no_grad()
    def _insert(self, x01) -> None:
        x = self._norm(x01)
        self.student.eval()
        with self._amp(self.kd['autocast']):
            t = self.teacher(x, mode='tensor').float()
            s = self.student(x, mode='tensor').float()
        self.student.train()
        label = t.argmax(1)
        phi = self._phi(t, label)
        prio = phi * _kl(s, t, 1.0) + 1e-6
        n, cap = len(x01), len(self.prio)
        if self.filled + n <= cap:
            slots = torch.arange(self.filled, self.filled + n)
            self.filled += n
        else:  # evict the lowest priorities
            slots = self.prio[:self.filled].topk(n, largest=False).indices
        self.images[slots] = (x01 * 255).round().to(torch.uint8)
        self.labels[slots], self.phi[slots], self.prio[slots] = label, phi, \
            prio

    def distill_step(self) -> None:
        n = self.kd['batch_size']
        p = self.prio[:self.filled].pow(self.alpha)
        p = p / p.sum()
        idx = torch.multinomial(p, n, replacement=True)
        w = (self.filled * p[idx]).pow(-self.beta)
        w = w / w.mean()
        x01 = self.images[idx].float() / 255
        x = self._norm(_crop_flip(x01, self.pad, self.hflip))
        with torch.no_grad(), self._amp(self.kd['autocast']):
            t = self.teacher(x, mode='tensor').float()
        with self._amp(self.kd['autocast']):
            s = self.student(x, mode='tensor').float()
        kl = _kl(s, t, self.kd['tau'])
        loss = (w * kl).mean()
        self.opt_s.zero_grad()
        loss.backward()
        self.opt_s.step()
        with torch.no_grad():
            self.prio[idx] = self.phi[idx] * _kl(s.detach(), t, 1.0) + 1e-6


# ----------------------------------------------------------- measurement
def measure_overhead(teacher_ckpt: str, data_root: str, work_dir: str,
                     n_synth: int = 8, n_kd: int = 60,
                     warmup: int = 3) -> Dict:
    """Median seconds per synthesis round and per KD step, plugin vs plain.

    The plugin runs through ``Runner.train()``: ``warmup`` synthesis-only
    warm-up iterations, ``n_synth`` iterations of one synthesis round (with
    the adversarial term) and one KD step, then ``n_kd`` KD-only
    iterations; each iteration is timed from one ``before_train_iter`` to
    the next (data loading, hooks, logging, optimizer wrappers included). A
    synthesis round is the median of the first kind minus the median KD-only
    iteration. The plain loop then runs the same rounds and steps on deep
    copies of the runner's models.
    """
    from mmengine.runner import Runner

    from ..utils.modules import unwrap
    cfg = load_config(config_path(SSDKD_CFG), log=False)
    cfg.model.teacher_ckpt = teacher_ckpt
    set_data_root(cfg, data_root)
    synth_iters = warmup + n_synth
    max_iters = synth_iters + n_kd
    for h in cfg.custom_hooks:
        if h['type'].endswith('SSDKDInversionHook'):
            h.update(warmup_iters=warmup, synth_interval=1,
                     eval_teacher=False)
        if h['type'].endswith('SSDKDPrioritySamplerHook'):
            h['begin_iter'] = warmup
    cfg.warmup_iters = warmup
    cfg.train_cfg.max_iters = max_iters
    cfg.train_cfg.val_interval = 10**9
    cfg.train_cfg.val_begin = 10**9
    cfg.param_scheduler.architecture[0].update(
        begin=warmup, end=max_iters, T_max=max_iters - warmup)
    cfg.param_scheduler.generator[0].update(end=max_iters)
    cfg.default_hooks.checkpoint = None
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=0)
    runner = Runner.from_cfg(cfg)
    clock = _IterClock(kd_only_from=synth_iters)
    runner.register_hook(clock)
    runner.train()
    d = clock.durations()
    plugin_kd = statistics.median(d[synth_iters:])
    plugin_synth = statistics.median(d[warmup:synth_iters]) - plugin_kd

    alg = unwrap(runner.model)
    plain = PlainSSDKD(alg)
    times_s, times_k = [], []
    for i in range(synth_iters):
        t0 = time.perf_counter()
        plain.synthesize()
        if i >= warmup:
            times_s.append(time.perf_counter() - t0)
    for _ in range(n_kd):
        t0 = time.perf_counter()
        plain.distill_step()
        times_k.append(time.perf_counter() - t0)
    return dict(
        n_synth=n_synth, n_kd=n_kd,
        synth_batch=alg.synthesizer.batch_size,
        g_steps=alg.synthesizer.g_steps, kd_batch=alg.kd_step.batch_size,
        plugin_synth_s=plugin_synth, plugin_kd_s=plugin_kd,
        plain_synth_s=statistics.median(times_s),
        plain_kd_s=statistics.median(times_k),
        # the algorithm's own timers (inside train_step, no runner/hooks)
        algorithm_synth_s=alg.synth_time / max(alg.rounds, 1),
        algorithm_kd_s=alg.kd_time / max(alg.kd_steps, 1))
