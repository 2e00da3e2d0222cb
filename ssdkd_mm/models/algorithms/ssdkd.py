# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""SSD-KD: Small Scale Data-Free Knowledge Distillation (CVPR 2024).

The algorithm coordinates three parts, each with explicit inputs: the
**synthesizer** (:mod:`ssdkd_mm.models.synthesis`, built by ``type=``) makes
images, the **prioritised replay** (:mod:`ssdkd_mm.replay`) scores and
serves them, the **student step** (:mod:`.student_step`) distills on them.
It decides when each runs (:meth:`~SSDKDDistillation.train_step`) and owns
their state (:meth:`~SSDKDDistillation.ssdkd_state_dict`, one checkpoint
key). Building the parts and its checks live in :mod:`.builder`.
"""
import time
from typing import Dict, Optional, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper, OptimWrapperDict

from mmrazor.models.algorithms.base import BaseAlgorithm
from mmrazor.registry import MODELS
from ...replay import Scoring
from ...utils.modules import unwrap
from ..cfg_path import resolve_model_cfg
from ..nonfinite import NonFiniteGuard
from ..synthesis import SynthesisInputs
from ..wrapper_keys import strip_wrapper_keys
from . import builder
from .state import COUNTERS, VERSION, upgrade_state
from .student_step import StepInputs
from .task_adapters import build_task_adapter


@MODELS.register_module()
class SSDKDDistillation(BaseAlgorithm):
    """SSD-KD as an mmrazor algorithm.

    An iteration may run one **synthesis round** whose images go into the
    **prioritised replay**, and one **student step** on a batch drawn from
    it by δ; :class:`SSDKDInversionHook` decides which through
    :attr:`synthesis_due`, :attr:`distill_due` and :attr:`adversarial`. The
    teacher (model config + local checkpoint, loaded strictly) is frozen
    three ways: no grad, never re-initialised, always in eval mode.

    Args:
        architecture (dict | BaseModel): The student: a model dict, or
            ``dict(cfg_path=...)`` for the ``model`` of a config
            (``'mmpretrain::…'``, ``'mmseg::…'`` or a local file).
        teacher (dict | BaseModel): The teacher, the same way.
        generator (dict | nn.Module): The generator (``img_shape``).
        teacher_ckpt (str, optional): Local checkpoint (teacher_ckpt_strict).
        task (str): ``'cls'`` or ``'seg'``; ``task_cfg``: its adapter's.
        num_classes (int, optional): Inferred from the teacher's head.
        inversion (dict): The image source: ``type`` (a ``SYNTHESIZERS``
            name, default ``'InversionSynthesizer'``;
            ``'NoiseSynthesizer'``: the noise baseline) and its arguments.
        modulating, replay_buffer, sampler, priority, kd (dict): φ
            (:class:`ModulatingFunction`), B (:class:`ReplayBuffer` +
            ``storage_device``), δ (:class:`PrioritySampler`), π
            (:class:`PriorityRule`), the student step (:class:`StudentStep`).
        channels_last (bool): Channels-last memory format. Defaults to False.
        nonfinite_patience (int): K NaN/Inf steps in a row stop. Default 10.
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
        (self.synthesizer, self.kd_step, self.modulating,
         replay_cfg) = builder.build_settings(self.task, inversion, kd,
                                              modulating, replay_buffer,
                                              sampler, priority)
        self.guard = NonFiniteGuard(nonfinite_patience)
        self.teacher = builder.build_teacher(teacher, teacher_ckpt,
                                             teacher_ckpt_strict)
        self.generator = (MODELS.build(generator) if isinstance(
            generator, dict) else generator)
        self.num_classes = num_classes or builder.infer_num_classes(
            self.task, self.teacher, self.student)
        # Plain objects: never in state_dict()/buffers() (ssdkd_state_dict).
        self.replay = builder.build_replay(
            replay_cfg, self.generator.img_shape,
            self.task.label_dim(self.num_classes), self.kd_step.view_cache,
            self.task.kl)
        mean, std = builder.normalisation(self.data_preprocessor,
                                         self.generator.img_shape[0])
        self.register_buffer('_img_mean', mean, persistent=False)
        self.register_buffer('_img_std', std, persistent=False)
        self.channels_last = channels_last
        if channels_last:
            for m in (self.teacher, self.student, self.generator):
                m.to(memory_format=torch.channels_last)
        builder.check_generator_fits_teacher(
            self.generator, self.teacher, self.task, self.normalize,
            self.num_classes, self.device)
        # Checkpoint keys never carry a DDP wrapper (1 GPU <-> N GPUs).
        self._register_state_dict_hook(strip_wrapper_keys)

        # Schedule flags, set each iteration by SSDKDInversionHook.
        self.synthesis_due, self.distill_due, self.adversarial = (True, True,
                                                                  False)
        #: The hook that saves ssdkd_state_dict(), set in its before_train.
        self.state_persisted_by: Optional[str] = None
        self.rounds = self.kd_steps = 0
        self.synth_time = self.kd_time = 0.0

    student = property(lambda self: self.architecture)
    buffer = property(lambda self: self.replay.buffer)
    sampler = property(lambda self: self.replay.sampler)
    device = property(lambda self: self._img_mean.device)
    augment = property(lambda self: self.kd_step.augment)  # views

    def train(self, mode: bool = True) -> 'SSDKDDistillation':
        """The teacher stays in eval mode (its BN statistics never move)."""
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
        builder.check_train_step(data, optim_wrapper, self.state_persisted_by)
        log_vars = {}
        feeds_replay = self.synthesizer.feeds_replay
        if self.synthesis_due:
            log_vars.update(self.synthesize(optim_wrapper['generator']))
        if self.distill_due and (len(self.replay) > 0 or not feeds_replay):
            log_vars.update(self.distill_step(optim_wrapper['architecture']))
        return log_vars

    def synthesize(self, optim_g: OptimWrapper) -> Dict[str, torch.Tensor]:
        """One synthesis round; its images go into the replay (a source
        that does not feed the replay keeps what it made)."""
        t0 = time.perf_counter()
        ref_counts = (
            self.replay.class_histogram(self.num_classes).to(self.device)
            if len(self.replay) > 0 else None)
        out = self.synthesizer.synthesize(self.synthesis_inputs(ref_counts),
                                          optim_g)
        feeds_replay = self.synthesizer.feeds_replay
        if out is None:  # nothing made (noise) or every step skipped
            return (dict(nonfinite_skipped=float(self.guard.skipped))
                    if feeds_replay else {})
        log = dict(out['log'])
        if feeds_replay:
            self.replay.to_device(self.device)
            log.update(self.replay.insert_scored(
                out['images'], self._scoring(), ref_counts, self.rounds))
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
        """ŷ, φ and π of every entry rescored with the current student."""
        self.replay.refresh(self._scoring(), self.device, chunk)

    def recalibrate_student_bn(self, num_batches: int = 8,
                               batch_size: Optional[int] = None) -> int:
        """The student's BN statistics from uniform buffer batches."""
        return self.kd_step.recalibrate_bn(self._step_inputs(), num_batches,
                                           batch_size)

    def synthesis_inputs(self, ref_counts: Optional[torch.Tensor] = None
                         ) -> SynthesisInputs:
        """What the image source computes on (models unwrapped)."""
        return SynthesisInputs(
            teacher=unwrap(self.teacher), student=unwrap(self.student),
            generator=unwrap(self.generator), normalize=self.normalize,
            task=self.task, augment=self.augment, modulating=self.modulating,
            num_classes=self.num_classes, device=self.device,
            adversarial=self.adversarial, guard=self.guard,
            ref_counts=ref_counts, channels_last=self.channels_last)

    def _scoring(self) -> Scoring:
        return Scoring(unwrap(self.teacher), unwrap(self.student),
                       self.normalize, self.task, self.modulating)

    def _step_inputs(self) -> StepInputs:
        return StepInputs(
            teacher=unwrap(self.teacher), student=self.student,
            normalize=self.normalize, task=self.task, replay=self.replay,
            source=self.synthesizer, synthesis=(
                None if self.synthesizer.feeds_replay else
                self.synthesis_inputs()),
            img_shape=tuple(unwrap(self.generator).img_shape),
            device=self.device, guard=self.guard,
            num_classes=self.num_classes, kappa=self.modulating.kappa)

    # ------------------------------------------------------------ state
    def ssdkd_state_dict(self) -> dict:
        """What training continues with besides modules and optimisers
        (counters, synthesizer, replay): ``checkpoint['ssdkd']``."""
        state = {k: getattr(self, k) for k in COUNTERS}
        state.update(version=VERSION, nonfinite_skipped=self.guard.skipped,
                     synthesizer=self.synthesizer.state_dict(),
                     replay=self.replay.state_dict())
        return state

    def load_ssdkd_state_dict(self, state: dict) -> None:
        """Restore :meth:`ssdkd_state_dict` (or a version-1 layout)."""
        state = upgrade_state(state)
        for k in COUNTERS:
            setattr(self, k, state[k])
        self.guard.skipped = state.get('nonfinite_skipped', 0)
        self.synthesizer.load_state_dict(state['synthesizer'])
        if state.get('replay') is not None:
            self.replay.load_state_dict(state['replay'])
