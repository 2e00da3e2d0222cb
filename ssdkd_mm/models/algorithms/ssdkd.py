# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""SSD-KD: Small Scale Data-Free Knowledge Distillation (CVPR 2024).

The algorithm coordinates three parts, each with explicit inputs: the
**synthesizer** (:mod:`ssdkd_mm.models.synthesis`, built by ``type=``) makes
images, the **prioritised replay** (:mod:`ssdkd_mm.replay`) scores and
serves them, the **student step** (:mod:`.student_step`) distills on them.
It decides when each runs (:meth:`~SSDKDDistillation.train_step`) and owns
their state (:meth:`~SSDKDDistillation.ssdkd_state_dict`, one checkpoint
key). Building checks live in :mod:`.checks`.
"""
import time
from typing import Dict, Optional, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper, OptimWrapperDict

from mmrazor.models.algorithms.base import BaseAlgorithm
from mmrazor.registry import MODELS
from ...registry import SYNTHESIZERS
from ...replay import (PrioritizedReplay, PriorityRule, PrioritySampler,
                       ReplayBuffer, Scoring)
from ...replay.modulating import ModulatingFunction
from ...utils.modules import unwrap
from ..cfg_path import resolve_model_cfg
from ..nonfinite import NonFiniteGuard
from ..synthesis import SynthesisInputs, upgrade_inversion_cfg
from ..wrapper_keys import strip_wrapper_keys
from . import checks, settings
from .state import COUNTERS, upgrade_state
from .student_step import StepInputs, StudentStep
from .task_adapters import build_task_adapter


@MODELS.register_module()
class SSDKDDistillation(BaseAlgorithm):
    """SSD-KD as an mmrazor algorithm.

    Each training iteration may run one **synthesis round** (by default the
    data inversion of :class:`InversionSynthesizer`) whose images go into
    the **prioritised replay**, and one **student step** on a batch drawn
    from it by **priority sampling δ** with importance-sampling weights.
    When each happens is decided by :class:`SSDKDInversionHook` through
    :attr:`synthesis_due`, :attr:`distill_due` and :attr:`adversarial`.

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
        task_cfg (dict, optional): Arguments of the task adapter.
        num_classes (int, optional): Inferred from the teacher's head.
        inversion (dict): The image source: ``type`` (a
            :data:`~ssdkd_mm.registry.SYNTHESIZERS` name, default
            ``'InversionSynthesizer'``; ``'NoiseSynthesizer'``: the
            Gaussian-noise baseline) and its arguments.
        modulating (dict): φ knobs: :class:`ModulatingFunction`.
        replay_buffer (dict): Buffer knobs: :class:`ReplayBuffer` and
            ``storage_device`` (None: the training device).
        sampler (dict): δ knobs: :class:`PrioritySampler`.
        priority (dict): π knobs: :class:`PriorityRule`.
        kd (dict): Student-step knobs: :class:`StudentStep`.
        channels_last (bool): Models and images in channels-last memory
            format. Defaults to False.
        nonfinite_patience (int): K NaN/Inf steps in a row stop training.
            Defaults to 10.
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
        no_keys = ('img_shape', 'label_dim', 'device')
        buf_cfg = settings.check_keys(
            replay_buffer, settings.accepted(ReplayBuffer, no_keys) |
            {'storage_device'}, 'replay_buffer')
        sampler = settings.build(PrioritySampler, sampler, 'sampler')
        rule = settings.build(PriorityRule, priority, 'priority', ('eps', ),
                              eps=sampler.eps)
        checks.check_capacity(
            buf_cfg.get('capacity',
                        settings.default(ReplayBuffer, 'capacity')),
            buf_cfg.get('unbounded'), self.kd_step.batch_size)
        self.guard = NonFiniteGuard(nonfinite_patience)

        self.teacher = checks.build_teacher(teacher, teacher_ckpt,
                                            teacher_ckpt_strict)
        self.generator = (
            MODELS.build(generator)
            if isinstance(generator, dict) else generator)
        self.num_classes = num_classes or checks.infer_num_classes(
            self.task, self.teacher, self.student)
        # Plain objects: never in state_dict()/buffers(); saved under
        # checkpoint['ssdkd'] (ssdkd_state_dict).
        self.modulating = ModulatingFunction(**settings.check_keys(
            modulating, settings.accepted(ModulatingFunction), 'modulating'))
        storage = buf_cfg.pop('storage_device', None)
        self.replay = PrioritizedReplay(
            settings.build(
                ReplayBuffer, buf_cfg, 'replay_buffer', no_keys,
                img_shape=tuple(self.generator.img_shape), device='cpu',
                label_dim=self.task.label_dim(self.num_classes)),
            sampler, rule, storage_device=storage,
            view_cache=self.kd_step.view_cache, divergence=self.task.kl)
        mean, std = checks.normalisation(self.data_preprocessor,
                                         self.generator.img_shape[0])
        self.register_buffer('_img_mean', mean, persistent=False)
        self.register_buffer('_img_std', std, persistent=False)
        self.channels_last = channels_last
        if channels_last:
            for m in (self.teacher, self.student, self.generator):
                m.to(memory_format=torch.channels_last)
        checks.check_generator_fits_teacher(
            self.generator, self.teacher, self.task, self.normalize,
            self.num_classes, self.device)
        # Checkpoint keys never carry a DDP wrapper (1 GPU <-> N GPUs).
        self._register_state_dict_hook(strip_wrapper_keys)

        # Schedule flags, set each iteration by SSDKDInversionHook.
        self.synthesis_due = self.distill_due = True
        self.adversarial = False
        #: The hook that saves ssdkd_state_dict() (set by it in
        #: before_train); a Runner's loop cannot train without one.
        self.state_persisted_by: Optional[str] = None
        self.rounds = self.kd_steps = 0
        self.synth_time = self.kd_time = 0.0

    @property
    def student(self) -> nn.Module:
        return self.architecture

    @property
    def augment(self):
        """The views of the student step (the inversion's too)."""
        return self.kd_step.augment

    @property
    def buffer(self) -> ReplayBuffer:
        return self.replay.buffer

    @property
    def sampler(self) -> PrioritySampler:
        return self.replay.sampler

    @property
    def device(self) -> torch.device:
        return self._img_mean.device

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
        if data is not None and self.state_persisted_by is None:
            raise RuntimeError(
                "SSD-KD state would not be saved: add dict(type='mmrazor."
                "SSDKDInversionHook') to custom_hooks (it persists "
                "checkpoint['ssdkd']).")
        log_vars = {}
        feeds_replay = self.synthesizer.feeds_replay
        if self.synthesis_due and feeds_replay:
            log_vars.update(self.synthesize(optim_wrapper['generator']))
        if self.distill_due and (len(self.replay) > 0 or not feeds_replay):
            log_vars.update(self.distill_step(optim_wrapper['architecture']))
        return log_vars

    def synthesize(self, optim_g: OptimWrapper) -> Dict[str, torch.Tensor]:
        """One synthesis round; its images go into the replay."""
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
        """One student step (:class:`StudentStep`)."""
        t0 = time.perf_counter()
        log = self.kd_step(self._step_inputs(), optim_s)
        if log is None:  # a NaN/Inf loss: skipped and counted
            return dict(nonfinite_skipped=float(self.guard.skipped))
        self.kd_steps += 1
        self.kd_time += time.perf_counter() - t0
        return log

    def refresh_buffer(self, chunk: int = 1024) -> None:
        """Rescore ŷ, φ and π of every buffer entry with the current
        student."""
        self.replay.refresh(self._scoring(), self.device, chunk)

    def recalibrate_student_bn(self, num_batches: int = 8,
                               batch_size: Optional[int] = None) -> int:
        """The student's BN statistics from uniform buffer batches."""
        return self.kd_step.recalibrate_bn(self._step_inputs(), num_batches,
                                           batch_size)

    def _scoring(self) -> Scoring:
        return Scoring(unwrap(self.teacher), unwrap(self.student),
                       self.normalize, self.task, self.modulating)

    def _step_inputs(self) -> StepInputs:
        return StepInputs(
            teacher=unwrap(self.teacher), student=self.student,
            normalize=self.normalize, task=self.task, replay=self.replay,
            source=self.synthesizer,
            img_shape=tuple(unwrap(self.generator).img_shape),
            device=self.device, guard=self.guard,
            num_classes=self.num_classes, kappa=self.modulating.kappa)

    # ------------------------------------------------------------ state
    @property
    def nonfinite_skipped(self) -> int:
        return self.guard.skipped

    def ssdkd_state_dict(self) -> dict:
        """Everything training continues with besides the modules and
        optimisers: counters, the synthesizer's state (BN EMA), the replay
        (buffer and sampler); saved under ``checkpoint['ssdkd']``."""
        state = {k: getattr(self, k) for k in COUNTERS}
        state.update(version=2, nonfinite_skipped=self.guard.skipped,
                     synthesizer=self.synthesizer.state_dict(),
                     replay=self.replay.state_dict())
        return state

    def load_ssdkd_state_dict(self, state: dict) -> None:
        """Restore :meth:`ssdkd_state_dict` (or a checkpoint of 0.x, with
        ``inversion``/``replay_buffer``/``sampler`` keys)."""
        state = upgrade_state(state)
        for k in COUNTERS:
            setattr(self, k, state[k])
        self.guard.skipped = state.get('nonfinite_skipped', 0)
        self.synthesizer.load_state_dict(state['synthesizer'])
        if state.get('replay') is not None:
            self.replay.load_state_dict(state['replay'])
