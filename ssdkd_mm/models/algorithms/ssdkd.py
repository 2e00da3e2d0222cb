# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""SSD-KD: Small Scale Data-Free Knowledge Distillation (CVPR 2024).

The algorithm in four verbs: :meth:`~SSDKDDistillation.synthesize` (a
data-inversion round, :mod:`ssdkd_mm.models.synthesis`), insertion into the
prioritised replay (:mod:`ssdkd_mm.replay`), :meth:`distill_step` (a
student step on a batch drawn by δ, then π updated) and
:meth:`refresh_buffer`. Where the two tasks differ lives in the task
adapter; every knob lives in the signature of the component that uses it.
"""
import time
from typing import Dict, Optional, Union

import torch
import torch.nn as nn
from mmengine import dist
from mmengine.logging import print_log
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper, OptimWrapperDict

from mmrazor.models.algorithms.base import BaseAlgorithm
from mmrazor.registry import MODELS
from ...replay import (PrioritizedReplay, PriorityRule, PrioritySampler,
                       ReplayBuffer, Scoring, TeacherViewCache)
from ..cfg_path import resolve_model_cfg
from ...replay.modulating import ModulatingFunction, inverse_frequency
from ..nonfinite import NonFiniteGuard
from ..precision import autocast
from ...registry import SYNTHESIZERS
from ..synthesis import SynthesisInputs, upgrade_inversion_cfg
from ..teacher import freeze, load_teacher
from ..wrapper_keys import strip_wrapper_keys
from ...utils.modules import unwrap
from . import settings
from .student_step import StudentStep
from .task_adapters import build_task_adapter


@MODELS.register_module()
class SSDKDDistillation(BaseAlgorithm):
    """SSD-KD as an mmrazor algorithm.

    Each training iteration may run one **data inversion** round (a generator
    trained against the frozen teacher with BN-statistics matching, CE to
    sampled classes and the masked adversarial term, each sample weighted by
    φ) that partially updates a small **replay buffer**, and one **student
    step** on a batch drawn from the buffer by **priority sampling δ** with
    importance-sampling weights. When each happens is decided by
    :class:`SSDKDInversionHook` through :attr:`synthesis_due`,
    :attr:`distill_due` and :attr:`adversarial`.

    The teacher is built from a model config (e.g. an mmpretrain classifier)
    and a local checkpoint, loaded strictly and frozen three ways: no grad,
    never re-initialised by the Runner, always in eval mode.

    Args:
        architecture (dict | BaseModel): The student: a model dict, or
            ``dict(cfg_path=...)`` for the ``model`` of a config
            (``'mmpretrain::…'``, ``'mmseg::…'`` or a local file; other keys
            are merged into it).
        teacher (dict | BaseModel): The teacher, the same way.
        generator (dict | nn.Module): The inversion generator.
        teacher_ckpt (str, optional): Local teacher checkpoint.
        teacher_ckpt_strict (bool): Strict loading. Defaults to True.
        task (str): ``'cls'`` (mmpretrain classifiers) or ``'seg'`` (mmseg
            segmentors). Defaults to ``'cls'``.
        task_cfg (dict, optional): Arguments of the task adapter, e.g.
            ``dict(background=0, box_size=(0.3, 0.7))`` for
            :class:`SegTaskAdapter`.
        num_classes (int, optional): Inferred from the teacher's head when
            omitted.
        inversion (dict): The image source: ``type`` (a
            :data:`~ssdkd_mm.registry.SYNTHESIZERS` name, default
            ``'InversionSynthesizer'``; ``'NoiseSynthesizer'``: the
            Gaussian-noise baseline) and its arguments.
        modulating (dict): φ knobs: :class:`ModulatingFunction`.
        replay_buffer (dict): Buffer knobs: :class:`ReplayBuffer` (capacity,
            eviction, unbounded, pin_memory) and ``storage_device`` (where
            the buffer lives during training; None: the training device).
        sampler (dict): δ knobs: :class:`PrioritySampler` (α, β, ε, mode,
            importance weighting and its normalisation).
        priority (dict): π knobs: :class:`PriorityRule` (τ_p, φ in π, the
            new-entry priority, top-k insertion).
        kd (dict): Student-step knobs: :class:`StudentStep`.
        channels_last (bool): Keep models and images in channels-last memory
            format (faster convolutions with bf16 on recent CPUs and GPUs).
            Defaults to False.
        nonfinite_patience (int): K: a generator or student step whose loss
            is NaN/Inf is skipped and counted; K such steps in a row stop
            training with ``FloatingPointError``. Defaults to 10.
        data_preprocessor (dict, optional): Defaults to the student's.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 architecture: Union[BaseModel, Dict],
                 teacher: Union[BaseModel, Dict],
                 generator: Union[nn.Module, Dict],
                 teacher_ckpt: Optional[str] = None,
                 teacher_ckpt_strict: bool = True,
                 task: str = 'cls',
                 task_cfg: Optional[dict] = None,
                 num_classes: Optional[int] = None,
                 inversion: Optional[dict] = None,
                 modulating: Optional[dict] = None,
                 replay_buffer: Optional[dict] = None,
                 sampler: Optional[dict] = None,
                 priority: Optional[dict] = None,
                 kd: Optional[dict] = None,
                 channels_last: bool = False,
                 nonfinite_patience: int = 10,
                 data_preprocessor: Optional[Union[Dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        architecture = resolve_model_cfg(architecture, 'architecture')
        teacher = resolve_model_cfg(teacher, 'teacher')
        super().__init__(architecture, data_preprocessor, init_cfg)
        # Settings first: a bad knob fails before the models are built.
        self.task = build_task_adapter(task, **(task_cfg or {}))
        self.synthesizer = settings.build_registered(
            SYNTHESIZERS, upgrade_inversion_cfg(inversion), 'inversion',
            'InversionSynthesizer')
        self.kd_step = settings.build(StudentStep, kd, 'kd')
        self.task.check_kd(self.kd_step.cwd_weight)
        buf_cfg = settings.check_keys(
            replay_buffer, settings.accepted(
                ReplayBuffer, ('img_shape', 'label_dim', 'device')) |
            {'storage_device'}, 'replay_buffer')
        sampler = settings.build(PrioritySampler, sampler, 'sampler')
        rule = settings.build(PriorityRule, priority, 'priority', ('eps', ),
                              eps=sampler.eps)
        self._check_capacity(buf_cfg)
        self.guard = NonFiniteGuard(nonfinite_patience)

        self.teacher = (
            MODELS.build(teacher) if isinstance(teacher, dict) else teacher)
        if teacher_ckpt is not None:
            load_teacher(self.teacher, teacher_ckpt, teacher_ckpt_strict)
        else:
            print_log(
                'SSDKDDistillation: teacher_ckpt is None, the teacher keeps '
                'its initial weights (only sensible in tests).',
                logger='current', level=30)
        freeze(self.teacher)
        self.generator = (
            MODELS.build(generator)
            if isinstance(generator, dict) else generator)
        self.num_classes = num_classes or self._infer_num_classes()

        # Plain objects: never in state_dict()/buffers(); the hooks
        # checkpoint them under checkpoint['ssdkd'].
        self.modulating = ModulatingFunction(**settings.check_keys(
            modulating, settings.accepted(ModulatingFunction), 'modulating'))
        storage = buf_cfg.pop('storage_device', None)
        self.replay = PrioritizedReplay(
            settings.build(
                ReplayBuffer, buf_cfg, 'replay_buffer',
                ('img_shape', 'label_dim', 'device'),
                img_shape=tuple(self.generator.img_shape), device='cpu',
                label_dim=self.task.label_dim(self.num_classes)),
            sampler, rule, storage_device=storage,
            view_cache=(TeacherViewCache(self.kd_step.cached_views)
                        if self.kd_step.cached_views else None),
            divergence=self.task.kl)
        self.augment = self.kd_step.build_augment()
        self._check_normalisation()
        self.channels_last = channels_last
        if channels_last:
            for m in (self.teacher, self.student, self.generator):
                m.to(memory_format=torch.channels_last)
        self._check_generator_fits_teacher()

        # Checkpoint keys never carry a DDP wrapper (1 GPU <-> N GPUs).
        self._register_state_dict_hook(strip_wrapper_keys)

        # Schedule flags, set each iteration by SSDKDInversionHook.
        self.synthesis_due = True
        self.distill_due = True
        self.adversarial = False
        # Counters persisted by the inversion hook.
        self.rounds = 0
        self.kd_steps = 0
        self.synth_time = 0.0
        self.kd_time = 0.0

    # ------------------------------------------------------------ setup
    def _check_capacity(self, buf_cfg: dict) -> None:
        capacity = buf_cfg.get('capacity',
                               settings.default(ReplayBuffer, 'capacity'))
        if not buf_cfg.get('unbounded') and isinstance(
                capacity, int) and capacity < self.kd_step.batch_size:
            raise ValueError(
                f'replay_buffer.capacity ({capacity}) is smaller than '
                f'kd.batch_size ({self.kd_step.batch_size}); raise the '
                'capacity or lower the KD batch size.')

    def _infer_num_classes(self) -> int:
        """C from the teacher's head (else the student's); both must agree."""
        t_n = self.task.head_classes(self.teacher)
        s_n = self.task.head_classes(self.student)
        n = t_n if t_n is not None else s_n
        if n is None:
            raise ValueError('Cannot infer the number of classes from the '
                             'teacher; set `model.num_classes`.')
        t_n, s_n = t_n or n, s_n or n
        if t_n != s_n:
            raise ValueError(f'The teacher predicts {t_n} classes but the '
                             f'student {s_n}; set the student head\'s '
                             'num_classes to the teacher\'s.')
        return n

    def _check_normalisation(self) -> None:
        pre = self.data_preprocessor
        mean, std = getattr(pre, 'mean', None), getattr(pre, 'std', None)
        if mean is None or std is None:
            raise ValueError(
                'SSDKDDistillation needs a data_preprocessor with mean and std'
                ' (synthetic images in [0, 1] are normalised with them); set '
                '`model.data_preprocessor` with `mean`/`std`.')
        nc = self.generator.img_shape[0]
        if mean.numel() != nc:
            raise ValueError(
                f'The generator makes {nc}-channel images but the data '
                f'preprocessor normalises {mean.numel()} channels; set '
                '`model.generator.nc` to the teacher\'s input channels.')
        self.register_buffer(
            '_img_mean', mean.detach().clone().view(1, -1, 1, 1),
            persistent=False)
        self.register_buffer(
            '_img_std', std.detach().clone().view(1, -1, 1, 1),
            persistent=False)

    @torch.no_grad()
    def _check_generator_fits_teacher(self) -> None:
        """One generated image through the teacher: its shape must be an
        input the teacher accepts, and the teacher must predict
        ``num_classes`` classes on it."""
        generator = self.generator
        mode = generator.training
        generator.eval()  # no BN update; a batch of 1 is fine in eval
        try:
            # A private RNG: building the model must not shift the seed.
            z = torch.randn(1, generator.latent_dim,
                            generator=torch.Generator().manual_seed(0))
            x01 = generator(z.to(self.device))
        finally:
            generator.train(mode)
        shape = tuple(x01.shape[1:])
        if shape != tuple(generator.img_shape):
            raise ValueError(
                'The generator declares img_shape '
                f'{tuple(generator.img_shape)} but makes {shape} images.')
        try:
            logits = self.task.logits(self.teacher, self.normalize(x01))
        except Exception as e:  # the teacher's own shape error, re-worded
            raise ValueError(
                f'The generator makes {shape} images (C, H, W) that the '
                f'teacher cannot take ({type(e).__name__}: {e}). Set '
                '`model.generator` (img_size, nc) to the input size and '
                'channels the teacher was trained on.') from e
        if logits.dim() < 2 or logits.shape[1] != self.num_classes:
            raise ValueError(
                f'On the generator\'s {shape} images the teacher gives logits '
                f'of shape {tuple(logits.shape)}, expected {self.num_classes} '
                'classes in dim 1; check `model.generator` img_size against '
                'the teacher\'s input size.')

    @property
    def student(self) -> nn.Module:
        return self.architecture

    def train(self, mode: bool = True) -> 'SSDKDDistillation':
        """The loop calls ``model.train()`` every iteration; the teacher's BN
        running statistics must never move, so it stays in eval mode."""
        super().train(mode)
        self.teacher.eval()
        return self

    def normalize(self, x01: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] → the models' input space: (255·x − mean)/std."""
        x = (x01 * 255.0 - self._img_mean) / self._img_std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    @property
    def buffer(self) -> ReplayBuffer:
        return self.replay.buffer

    @property
    def sampler(self) -> PrioritySampler:
        return self.replay.sampler

    @property
    def nonfinite_skipped(self) -> int:
        return self.guard.skipped

    @property
    def device(self) -> torch.device:
        return self._img_mean.device

    # ------------------------------------------------------------ train
    def train_step(self, data, optim_wrapper: OptimWrapperDict
                   ) -> Dict[str, torch.Tensor]:
        """One SSD-KD iteration; ``data`` comes from the placeholder dataset
        and is ignored (no real image is ever read in training)."""
        if not isinstance(optim_wrapper, OptimWrapperDict):
            raise TypeError(
                'SSDKDDistillation needs optim_wrapper with keys '
                "'architecture' and 'generator' built by "
                "constructor='mmrazor.SeparateOptimWrapperConstructor'.")
        log_vars = {}
        feeds_replay = self.synthesizer.feeds_replay
        if self.synthesis_due and feeds_replay:
            log_vars.update(self.synthesize(optim_wrapper['generator']))
        if self.distill_due and (len(self.replay) > 0 or not feeds_replay):
            log_vars.update(self.distill_step(optim_wrapper['architecture']))
        return log_vars

    def synthesize(self, optim_g: OptimWrapper) -> Dict[str, torch.Tensor]:
        """One data-inversion round; its best batch goes into the replay."""
        t0 = time.perf_counter()
        ref_counts = (
            self.replay.class_histogram(self.num_classes).to(self.device)
            if len(self.replay) > 0 else None)
        out = self.synthesizer.synthesize(SynthesisInputs(
            teacher=unwrap(self.teacher), student=unwrap(self.student),
            generator=unwrap(self.generator), normalize=self.normalize,
            task=self.task, augment=self.augment, modulating=self.modulating,
            num_classes=self.num_classes, device=self.device,
            adversarial=self.adversarial, guard=self.guard,
            ref_counts=ref_counts, channels_last=self.channels_last), optim_g)
        if out is None:  # every step was skipped: no update at all
            return dict(nonfinite_skipped=float(self.guard.skipped))
        self.replay.to_device(self.device)
        log = dict(out['log'])
        log.update(self.replay.insert_scored(out['images'], self._scoring(),
                                             ref_counts, step=self.rounds))
        self.rounds += 1
        dt = time.perf_counter() - t0
        self.synth_time += dt
        log['synth_round_time'] = dt
        return log

    def distill_step(self, optim_s: OptimWrapper) -> Dict[str, torch.Tensor]:
        """One student step: x ~ δ, IS-weighted τ²·KL(p_t^τ ‖ p_s^τ), then
        π of the drawn entries from their new discrepancy."""
        t0 = time.perf_counter()
        step = self.kd_step
        student = self.student
        idx, n, t_logits = None, step.batch_size, None
        if not self.synthesizer.feeds_replay:
            weights = raw_mean = torch.ones(n, device=self.device)
            x = self.synthesizer.draw_inputs(
                n, unwrap(self.generator).img_shape, self.device)
        else:
            self.replay.to_device(self.device)
            if self.replay.view_cache is not None:
                views, t_logits, idx, weights = self.replay.draw_views(
                    n, self.device, self.augment,
                    lambda v: self._teacher_logits(self.normalize(v)))
                x = self.normalize(views)
            else:
                x01, idx, weights = self.replay.draw(n)
                views = self.augment(x01.to(self.device, non_blocking=True))
                if step.mix is not None:
                    views, _ = step.mix(views)
                x = self.normalize(views)
            weights = weights.to(self.device)
            raw_mean = self.replay.last_raw_weights
        if t_logits is None:
            t_logits = self._teacher_logits(x)
        with optim_s.optim_context(student):
            with autocast(self.device, step.autocast):
                s_logits = self.task.logits(student, x)
            s_logits, t_logits = self.task.align(s_logits.float(), t_logits)
            loss = step.loss(
                self.task, s_logits, t_logits, weights,
                self._class_balance_weight(t_logits, idx),
                None if idx is None else self.replay.phi(idx))
        if self.guard.skip(loss, 'KD'):
            return dict(nonfinite_skipped=float(self.guard.skipped))
        optim_s.update_params(loss)
        if idx is not None:
            self.replay.reprioritize(idx, s_logits, t_logits)
        self._average_student_bn_stats()
        self.kd_steps += 1
        self.kd_time += time.perf_counter() - t0
        return dict(loss_kd=loss.detach(), is_weight_mean=raw_mean.mean())

    @torch.no_grad()
    def _teacher_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The KD target: the teacher's logits of normalised images, at the
        KD step's precision, as fp32."""
        with autocast(self.device, self.kd_step.autocast):
            return self.task.logits(unwrap(self.teacher), x).float()

    @torch.no_grad()
    def _class_balance_weight(self, t_logits: torch.Tensor,
                              idx: Optional[torch.Tensor]
                              ) -> Optional[torch.Tensor]:
        """Per-sample/pixel KD weights f(ŷ) = min(κ, N/(C·n_c))^η of the
        teacher's class ŷ, rescaled to batch mean 1 (``kd.class_balance``
        = η; ``None`` when off or when there is no buffer to count)."""
        eta = self.kd_step.class_balance
        if not eta or idx is None:
            return None
        f = inverse_frequency(
            self.replay.class_histogram(self.num_classes).to(t_logits),
            self.modulating.kappa, eta)
        weight = f[t_logits.argmax(1)]
        return weight / weight.mean().clamp_min(1e-12)

    @torch.no_grad()
    def refresh_buffer(self, chunk: int = 1024) -> None:
        """Recompute ŷ, φ and π over the whole buffer with the current
        student, so rarely drawn entries do not keep stale priorities."""
        self.replay.refresh(self._scoring(), self.device, chunk)

    @torch.no_grad()
    def recalibrate_student_bn(self, num_batches: int = 8,
                               batch_size: Optional[int] = None) -> int:
        """Re-estimate the student's BN running statistics on uniformly
        drawn (augmented) buffer batches: prioritised batches skew them,
        and no IS weight corrects that. Returns the layers recalibrated."""
        if len(self.replay) == 0:
            return 0
        student = unwrap(self.student)
        bns = [m for m in student.modules()
               if isinstance(m, nn.modules.batchnorm._BatchNorm)
               and m.track_running_stats]
        momenta = [m.momentum for m in bns]
        mode = student.training
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the batches
        student.train()
        n = batch_size or self.kd_step.batch_size
        for _ in range(num_batches):
            idx = torch.randint(len(self.replay), (n, ),
                                device=self.replay.buffer.device)
            x01 = self.replay.buffer.get(idx).to(self.device)
            with autocast(self.device, self.kd_step.autocast):
                self.task.logits(student, self.normalize(self.augment(x01)))
        for m, momentum in zip(bns, momenta):
            m.momentum = momentum
        student.train(mode)
        self._average_student_bn_stats()
        return len(bns)

    def _scoring(self) -> Scoring:
        return Scoring(unwrap(self.teacher), unwrap(self.student),
                       self.normalize, self.task, self.modulating)

    def _average_student_bn_stats(self) -> None:
        """Mean of the student's BN running statistics over ranks (no-op on
        one process): DDP does not sync them (``broadcast_buffers=False``),
        and scoring buffer entries, validation and checkpoints should see one
        student."""
        if dist.get_world_size() < 2:
            return
        stats = [b for b in unwrap(self.student).buffers()
                 if b.is_floating_point()]
        if stats:
            dist.all_reduce_params(stats, op='mean')

    # ------------------------------------------------------------ state
    def ssdkd_state_dict(self) -> dict:
        """Counters and BN-EMA state (buffer and sampler are persisted by
        their own hooks)."""
        return dict(
            bn_loss=self.synthesizer.state_dict().get('bn_loss'),
            rounds=self.rounds,
            kd_steps=self.kd_steps,
            synth_time=self.synth_time,
            kd_time=self.kd_time,
            nonfinite_skipped=self.guard.skipped)

    def load_ssdkd_state_dict(self, state: dict) -> None:
        if state.get('bn_loss') is not None:
            self.synthesizer.load_state_dict(dict(bn_loss=state['bn_loss']))
        self.rounds = state['rounds']
        self.kd_steps = state['kd_steps']
        self.synth_time = state['synth_time']
        self.kd_time = state['kd_time']
        self.guard.skipped = state.get('nonfinite_skipped', 0)
