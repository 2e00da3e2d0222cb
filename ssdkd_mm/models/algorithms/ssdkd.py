# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""SSD-KD: Small Scale Data-Free Knowledge Distillation (CVPR 2024)."""
import contextlib
import copy
import os.path as osp
import time
from typing import Dict, Optional, Union

import torch
import torch.nn as nn
from mmengine import dist
from mmengine.logging import print_log
from mmengine.model import BaseModel, is_model_wrapper
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.runner.checkpoint import (_load_checkpoint,
                                        _load_checkpoint_to_model)

from mmrazor.models.algorithms.base import BaseAlgorithm
from mmrazor.registry import MODELS
from ...replay import PrioritySampler, ReplayBuffer
from ...replay.distributed import all_gather_rows, last_write_wins, shard_range
from .._utils import unwrap
from ..augment import BatchAugment
from ..losses import (BNStatisticsLoss, ModulatingFunction, inverse_frequency,
                      per_sample_cwd)
from .task_adapters import build_task_adapter

INVERSION_DEFAULTS = dict(
    source='generator',  # 'generator' | 'noise' (Gaussian-noise baseline)
    g_steps=2,  # inner generator steps per synthesis round (Fast-k's k)
    synth_batch_size=256,
    lr_g=5e-3,  # inner-loop Adam lr of the cloned generator
    lr_z=0.015,  # inner-loop Adam lr of the latent
    meta=True,  # FOMAML meta-generator (False: train the generator directly)
    bn_weight=10.0,
    oh_weight=0.5,
    adv_weight=1.33,
    bn_momentum=0.9,
    adv_tau=1.0,
    targets='uniform',  # 'uniform' | 'balanced' (inverse buffer histogram)
    autocast=None,  # None (fp32) | 'bfloat16' | 'float16' for the forwards
    phi_on=('ce', 'adv'),  # loss terms weighted per sample by φ
    insert_top_k=None,  # insert only the k samples with highest φ·KL
)
BUFFER_DEFAULTS = dict(
    capacity=5000,
    eviction='lowest_priority',  # or 'fifo'
    unbounded=False,  # True: Fast-DFKD's ever-growing pool
    device=None,  # None: the training device
    pin_memory=False,
)
SAMPLER_DEFAULTS = dict(
    mode='proportional',  # 'proportional' | 'rank' | 'uniform'
    alpha=0.6,
    beta=(0.4, 1.0),
    eps=1e-6,
    priority_tau=1.0,  # τ_p of the priority KL
    priority_uses_phi=True,  # π = φ·KL + ε (False: π = KL + ε)
    new_priority='phi_kl',  # 'phi_kl' or 'max' (standard PER)
)
KD_DEFAULTS = dict(
    tau=20.0,
    batch_size=256,
    loss_weight=1.0,
    importance_weighting=True,  # apply the IS weights w_i
    # 'mean': w_i / mean_batch(w) keeps the step size; 'max': PER's
    # w_i / max_j w_j, which shrinks every step when some π is ~ε.
    is_weight_norm='mean',
    phi_in_loss=False,  # multiply the KD loss by φ again (double counts)
    # η > 0: weight each sample (pixel, for segmentation) of the KD loss by
    # min(κ, N / (C·n_c))^η of the teacher's class c, n_c from the buffer's
    # class histogram (κ: modulating.kappa), batch mean 1; 0: off
    class_balance=0.0,
    # λ_cwd > 0 (dense tasks): add λ_cwd·channel-wise distillation (every
    # class map as a distribution over the pixels, softmax at cwd_tau; each
    # class weighs the same whatever its pixel share) to the per-pixel KL
    cwd_weight=0.0,
    cwd_tau=4.0,
    augment=dict(crop_padding=4, hflip=True),
    autocast=None,  # None (fp32) | 'bfloat16' | 'float16' for the forwards
)


def _rename_prefix(state_dict: dict, old: str, new: str) -> None:
    """In place (order and ``_metadata`` kept): keys ``old…`` → ``new…``."""
    items = list(state_dict.items())
    state_dict.clear()
    for k, v in items:
        state_dict[new + k[len(old):] if k.startswith(old) else k] = v
    meta = getattr(state_dict, '_metadata', None)
    if meta is not None:
        old_m, new_m = old.rstrip('.'), new.rstrip('.')
        for k in [k for k in meta if k == old_m or k.startswith(old)]:
            meta[new_m + k[len(old_m):]] = meta.pop(k)


def _strip_wrapper_keys(module, state_dict, prefix, local_metadata):
    """``architecture.module.x`` → ``architecture.x``.

    Under MMSeparateDistributedDataParallel the student and the generator are
    each wrapped, so ``state_dict()`` puts the wrapper in their keys, while
    mmengine's loader unwraps wrappers at every level and expects keys
    without it: a multi-GPU ``--resume`` silently (``strict=False``) kept
    the initial student and generator. Unwrapped keys load with mmengine on
    1 or N GPUs, and in ``extract_student``.
    """
    for name, child in module.named_children():
        if is_model_wrapper(child):
            _rename_prefix(state_dict, f'{prefix}{name}.module.',
                           f'{prefix}{name}.')


def _merge(defaults: dict, given: Optional[dict], name: str) -> dict:
    given = dict(given or {})
    unknown = set(given) - set(defaults)
    if unknown:
        raise KeyError(f'unknown key(s) {sorted(unknown)} in {name}; valid '
                       f'keys are {sorted(defaults)}')
    out = copy.deepcopy(defaults)
    out.update(given)
    return out


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
        architecture (dict | BaseModel): The student.
        teacher (dict | BaseModel): The teacher.
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
        inversion (dict): Data-inversion knobs, see ``INVERSION_DEFAULTS``.
        modulating (dict): φ knobs, see :class:`ModulatingFunction`.
        replay_buffer (dict): Buffer knobs, see ``BUFFER_DEFAULTS``.
        sampler (dict): δ knobs, see ``SAMPLER_DEFAULTS``.
        kd (dict): Student-step knobs, see ``KD_DEFAULTS``.
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
                 kd: Optional[dict] = None,
                 channels_last: bool = False,
                 nonfinite_patience: int = 10,
                 data_preprocessor: Optional[Union[Dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(architecture, data_preprocessor, init_cfg)
        self.inv_cfg = _merge(INVERSION_DEFAULTS, inversion, 'inversion')
        self.buf_cfg = _merge(BUFFER_DEFAULTS, replay_buffer, 'replay_buffer')
        self.smp_cfg = _merge(SAMPLER_DEFAULTS, sampler, 'sampler')
        self.kd_cfg = _merge(KD_DEFAULTS, kd, 'kd')
        self.task = build_task_adapter(task, **(task_cfg or {}))
        self._check_knobs()
        if isinstance(nonfinite_patience, bool) or not isinstance(
                nonfinite_patience, int) or nonfinite_patience < 1:
            raise ValueError('nonfinite_patience must be an int >= 1, got '
                             f'{nonfinite_patience!r}')
        self.nonfinite_patience = nonfinite_patience
        self.nonfinite_skipped = 0  # steps skipped for a NaN/Inf loss
        self._nonfinite_streak = 0

        self.teacher = (
            MODELS.build(teacher) if isinstance(teacher, dict) else teacher)
        if teacher_ckpt is not None:
            self._load_teacher(teacher_ckpt, teacher_ckpt_strict)
        else:
            print_log(
                'SSDKDDistillation: teacher_ckpt is None, the teacher keeps '
                'its initial weights (only sensible in tests).',
                logger='current', level=30)
        self.teacher.requires_grad_(False)
        self.teacher.eval()

        self.generator = (
            MODELS.build(generator)
            if isinstance(generator, dict) else generator)
        self.num_classes = num_classes or self._infer_num_classes()

        # Plain objects: never in state_dict()/buffers(); the hooks
        # checkpoint them under checkpoint['ssdkd'].
        self.bn_loss = BNStatisticsLoss(self.inv_cfg['bn_momentum'])
        self.modulating = ModulatingFunction(**(modulating or {}))
        self.buffer = ReplayBuffer(
            capacity=self.buf_cfg['capacity'],
            img_shape=tuple(self.generator.img_shape),
            eviction=self.buf_cfg['eviction'],
            unbounded=self.buf_cfg['unbounded'],
            device='cpu',
            pin_memory=self.buf_cfg['pin_memory'],
            label_dim=self.task.label_dim(self.num_classes))
        self.sampler = PrioritySampler(
            alpha=self.smp_cfg['alpha'],
            beta=tuple(self.smp_cfg['beta']),
            eps=self.smp_cfg['eps'],
            mode=self.smp_cfg['mode'])
        self.augment = BatchAugment(**self.kd_cfg['augment'])
        self._check_normalisation()
        self.channels_last = channels_last
        if channels_last:
            for m in (self.teacher, self.student, self.generator):
                m.to(memory_format=torch.channels_last)
        self._check_generator_fits_teacher()

        # Checkpoint keys never carry a DDP wrapper (1 GPU <-> N GPUs).
        self._register_state_dict_hook(_strip_wrapper_keys)

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
    def _check_knobs(self) -> None:
        inv, kd = self.inv_cfg, self.kd_cfg
        if inv['source'] not in ('generator', 'noise'):
            raise ValueError("inversion.source must be 'generator' or "
                             f"'noise', got {inv['source']!r}")
        if inv['g_steps'] < 1 or inv['synth_batch_size'] < 1:
            raise ValueError('inversion.g_steps and inversion.synth_batch_size'
                             ' must be >= 1')
        if inv['targets'] not in ('uniform', 'balanced'):
            raise ValueError("inversion.targets must be 'uniform' or "
                             f"'balanced', got {inv['targets']!r}")
        for name, value in (('inversion.autocast', inv['autocast']),
                            ('kd.autocast', kd['autocast'])):
            if value not in (None, 'bfloat16', 'float16'):
                raise ValueError(f"{name} must be None, 'bfloat16' or "
                                 f"'float16', got {value!r}")
        if kd['is_weight_norm'] not in ('mean', 'max'):
            raise ValueError("kd.is_weight_norm must be 'mean' or 'max', got "
                             f"{kd['is_weight_norm']!r}")
        if kd['tau'] <= 0 or self.smp_cfg['priority_tau'] <= 0:
            raise ValueError('kd.tau and sampler.priority_tau must be > 0')
        if kd['class_balance'] < 0:
            raise ValueError('kd.class_balance (η) must be >= 0 (0: off), '
                             f"got {kd['class_balance']}")
        if kd['cwd_weight'] < 0 or kd['cwd_tau'] <= 0:
            raise ValueError('kd.cwd_weight must be >= 0 (0: off) and '
                             'kd.cwd_tau > 0, got '
                             f"{kd['cwd_weight']} and {kd['cwd_tau']}")
        if kd['cwd_weight'] > 0 and not self.task.dense_targets:
            raise ValueError(
                'kd.cwd_weight > 0 (channel-wise distillation) needs dense '
                "logits: use it with task='seg', or set kd.cwd_weight=0.")
        if self.smp_cfg['new_priority'] not in ('phi_kl', 'max'):
            raise ValueError("sampler.new_priority must be 'phi_kl' or "
                             f"'max', got {self.smp_cfg['new_priority']!r}")
        if (not self.buf_cfg['unbounded']
                and self.buf_cfg['capacity'] < kd['batch_size']):
            raise ValueError(
                f"replay_buffer.capacity ({self.buf_cfg['capacity']}) is "
                f"smaller than kd.batch_size ({kd['batch_size']}); raise the "
                'capacity or lower the KD batch size.')
        self._check_ranges()

    def _check_ranges(self) -> None:
        """α, β, τ and momentum knobs outside their domain (φ's knobs are
        checked by :class:`ModulatingFunction`)."""
        smp, inv = self.smp_cfg, self.inv_cfg
        if not inv['adv_tau'] > 0:
            raise ValueError(
                f"inversion.adv_tau must be > 0, got {inv['adv_tau']!r}")
        if not 0 <= inv['bn_momentum'] < 1:
            raise ValueError('inversion.bn_momentum must be in [0, 1), got '
                             f"{inv['bn_momentum']!r}")
        if not smp['alpha'] >= 0:
            raise ValueError('sampler.alpha (priority exponent α) must be '
                             f">= 0, got {smp['alpha']!r}")
        beta = smp['beta']
        if (isinstance(beta, (int, float)) or len(beta) != 2
                or not all(0 <= b <= 1 for b in beta)):
            raise ValueError(
                'sampler.beta (IS exponent schedule (β₀, β₁)) must be a pair '
                f'of values in [0, 1], got {beta!r}')
        if not smp['eps'] > 0:
            raise ValueError(f"sampler.eps must be > 0, got {smp['eps']!r}")

    def _load_teacher(self, ckpt: str, strict: bool) -> None:
        if not osp.isfile(osp.expanduser(ckpt)):
            raise FileNotFoundError(
                f'Teacher checkpoint not found: {ckpt!r}. Set '
                '`model.teacher_ckpt` (or the config variable `teacher_ckpt`) '
                'to a local checkpoint of the teacher model.')
        try:
            state = _load_checkpoint(ckpt, map_location='cpu')
        except Exception as e:  # torch/pickle raise many different types
            raise RuntimeError(
                f'Teacher checkpoint {ckpt!r} cannot be read '
                f'({type(e).__name__}: {e}). The file is truncated, corrupt, '
                'not readable by this user, or not a PyTorch checkpoint; '
                'download or copy it again.') from e
        if not isinstance(state, dict):
            raise RuntimeError(
                f'Teacher checkpoint {ckpt!r} holds a {type(state).__name__}, '
                'not a state dict (or a dict with a `state_dict` key).')
        try:
            _load_checkpoint_to_model(
                self.teacher, state, strict=strict,
                revise_keys=[(r'^module\.', '')])
        except RuntimeError as e:
            raise RuntimeError(
                f'Teacher checkpoint {ckpt!r} does not match the teacher '
                f'model (strict loading): {self._key_mismatch(state, e)}. '
                'Check that `model.teacher` is the config the checkpoint was '
                'trained with (and that its keys carry no extra prefix such '
                "as 'teacher.' or 'architecture.').") from e
        # Loaded weights must survive Runner._init_model_weights().
        self.teacher._is_init = True

    def _key_mismatch(self, state: dict, error: Exception) -> str:
        """A short account of a failed strict load: key counts with a few
        examples, or the (shape) error itself."""
        saved = state.get('state_dict', state)
        saved = {k[7:] if k.startswith('module.') else k for k in saved}
        wanted = set(self.teacher.state_dict())
        missing, unexpected = sorted(wanted - saved), sorted(saved - wanted)
        if not missing and not unexpected:
            return str(error)[:1000]
        return (f'{len(missing)} missing and {len(unexpected)} unexpected '
                f'keys (e.g. {(missing + unexpected)[:3]})')

    def _infer_num_classes(self) -> int:
        for model in (self.teacher, self.student):
            for head in ('head', 'decode_head'):
                n = getattr(getattr(model, head, None), 'num_classes', None)
                if n is not None:
                    break
            else:
                continue
            break
        else:
            raise ValueError('Cannot infer the number of classes from the '
                             'teacher; set `model.num_classes`.')
        def head_classes(model):
            for head in ('head', 'decode_head'):
                k = getattr(getattr(model, head, None), 'num_classes', None)
                if k is not None:
                    return k
            return n

        t_n, s_n = head_classes(self.teacher), head_classes(self.student)
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

    def _autocast(self, dtype: Optional[str]):
        """Mixed precision for a block of forwards (``None``: fp32)."""
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=getattr(torch, dtype))

    @property
    def device(self) -> torch.device:
        return self._img_mean.device

    def attach_bn_hooks(self) -> int:
        """(Re-)attach the BN-statistics hooks to the current teacher BN
        layers; returns how many were hooked."""
        return self.bn_loss.attach(unwrap(self.teacher))

    def _ensure_buffer_device(self) -> None:
        target = torch.device(self.buf_cfg['device'] or self.device)
        if self.buffer.device != target:
            self.buffer.to(target)

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
        if self.synthesis_due:
            log_vars.update(self.synthesize(optim_wrapper['generator']))
        if self.distill_due and (len(self.buffer) > 0
                                 or self.inv_cfg['source'] == 'noise'):
            log_vars.update(self.distill_step(optim_wrapper['architecture']))
        return log_vars

    def _sample_targets(self, n: int) -> torch.Tensor:
        if self.inv_cfg['targets'] == 'balanced' and len(self.buffer) > 0:
            hist = self.buffer.class_histogram(self.num_classes).to(
                self.device)
            probs = 1.0 / (hist + 1.0)
            return torch.multinomial(probs / probs.sum(), n, replacement=True)
        return torch.randint(0, self.num_classes, (n, ), device=self.device)

    def synthesize(self, optim_g: OptimWrapper) -> Dict[str, torch.Tensor]:
        """One data-inversion round (Fast-DFKD meta-generator with φ-weighted
        losses); inserts the best batch into the replay buffer."""
        if self.inv_cfg['source'] == 'noise':
            return {}
        t0 = time.perf_counter()
        cfg = self.inv_cfg
        teacher, student = unwrap(self.teacher), unwrap(self.student)
        generator = unwrap(self.generator)
        if not self.bn_loss.is_attached_to(teacher):
            self.attach_bn_hooks()
        n, device = cfg['synth_batch_size'], self.device

        z = torch.randn(n, generator.latent_dim, device=device,
                        requires_grad=True)
        classes = self._sample_targets(n)
        round_targets = None  # dense tasks: the round's target maps
        fast_g = generator.clone() if cfg['meta'] else generator
        params = [dict(params=[z], lr=cfg['lr_z'])]
        if cfg['meta']:
            params.append(dict(params=fast_g.parameters(), lr=cfg['lr_g']))
        inner = torch.optim.Adam(params, betas=(0.5, 0.999))
        optim_g.zero_grad()

        # The adversarial term back-propagates through the student: freeze
        # it so no gradient of the generator step reaches the student.
        student_mode = student.training
        student.eval()
        student_grad = [p.requires_grad for p in student.parameters()]
        student.requires_grad_(False)
        ref_counts = (
            self.buffer.class_histogram(self.num_classes).to(device)
            if len(self.buffer) > 0 else None)
        best_loss, best_x = float('inf'), None
        try:
            for _ in range(cfg['g_steps']):
                x01 = fast_g(z)
                view = self._view_rng()
                x = self.normalize(self.augment(x01, view))
                with self.bn_loss.enabled(), self._autocast(cfg['autocast']):
                    t_logits = self.task.logits(teacher, x).float()
                    loss_bn = self.bn_loss.loss().float()
                targets = classes
                if self.task.dense_targets:
                    # one map per image, built on the generated image of the
                    # round's first step, moved like this step's view
                    if round_targets is None:
                        round_targets = self._round_targets(
                            teacher, x01, classes)
                    targets = self.task.warp_targets(
                        round_targets,
                        lambda m: self.augment.geometry(
                            m, self._view_rng(view.initial_seed())),
                        x01.shape[2:], self.num_classes)
                unc, hist = self.task.phi_statistics(t_logits, targets)
                phi = self.modulating(unc, hist, ref_counts)
                w_ce = phi if 'ce' in cfg['phi_on'] else 1.0
                loss_oh = (w_ce * self.task.ce(t_logits, targets)).mean()
                loss_adv = t_logits.new_zeros(())
                if self.adversarial and cfg['adv_weight'] > 0:
                    with self._autocast(cfg['autocast']):
                        s_logits = self.task.logits(student, x).float()
                    s_logits, t_al = self.task.align(s_logits, t_logits)
                    kl = self.task.masked_kl(s_logits, t_al, cfg['adv_tau'])
                    w_adv = phi if 'adv' in cfg['phi_on'] else 1.0
                    loss_adv = -(w_adv * kl).mean()
                loss = (cfg['bn_weight'] * loss_bn +
                        cfg['oh_weight'] * loss_oh +
                        cfg['adv_weight'] * loss_adv)
                if self._skip_nonfinite(loss, 'inversion'):
                    continue
                inner.zero_grad()
                loss.backward()
                loss_value = loss.item()
                if loss_value < best_loss:  # NaN never compares smaller
                    best_loss, best_x = loss_value, x01.detach()
                if cfg['meta']:
                    # FOMAML: the clone's gradient is the shared generator's
                    # meta-gradient, accumulated over the inner steps.
                    for p, fp in zip(generator.parameters(),
                                     fast_g.parameters()):
                        if fp.grad is None:
                            continue
                        if p.grad is None:
                            p.grad = fp.grad.detach().clone()
                        else:
                            p.grad.add_(fp.grad.detach())
                    inner.step()
                else:
                    inner.step()
                    self._average_generator_grads(generator)
                    optim_g.step()
                    optim_g.zero_grad()
            if best_x is None:  # every step was skipped: no update at all
                optim_g.zero_grad()
                return dict(nonfinite_skipped=float(self.nonfinite_skipped))
            if cfg['meta']:
                self._average_generator_grads(generator)
                optim_g.step()
                optim_g.zero_grad()
            self.bn_loss.update_momentum()
            self._average_bn_ema()
            insert_log = self._insert(best_x, ref_counts)
        finally:
            for p, g in zip(student.parameters(), student_grad):
                p.requires_grad_(g)
            student.train(student_mode)
        self.rounds += 1
        dt = time.perf_counter() - t0
        self.synth_time += dt
        log = dict(
            loss_bn=loss_bn.detach(),
            loss_oh=loss_oh.detach(),
            loss_adv=loss_adv.detach(),
            synth_round_time=dt)
        log.update(insert_log)
        return log

    def _view_rng(self, seed: Optional[int] = None) -> torch.Generator:
        """The random generator of one augmented view (a fresh seed from
        the global RNG, so runs stay reproducible); the same ``seed`` gives
        the same view again."""
        if seed is None:
            seed = int(torch.randint(2**62, ()))
        return torch.Generator(self.device).manual_seed(seed)

    @torch.no_grad()
    def _round_targets(self, teacher: nn.Module, x01: torch.Tensor,
                       classes: torch.Tensor) -> torch.Tensor:
        """Dense CE targets of a round from the teacher's view of the
        un-augmented generated images (BN hooks off: no BN loss of it)."""
        with self._autocast(self.inv_cfg['autocast']):
            t_logits = self.task.logits(teacher, self.normalize(
                x01.detach())).float()
        return self.task.expand_targets(classes, t_logits)

    @staticmethod
    def _average_generator_grads(generator: nn.Module) -> None:
        """Mean of the meta-gradient over ranks (no-op on one process)."""
        if dist.get_world_size() < 2:
            return
        for p in generator.parameters():
            if p.grad is not None:
                dist.all_reduce(p.grad, op='mean')

    # ------------------------------------------------- NaN/Inf and multi-GPU
    def _skip_nonfinite(self, loss: torch.Tensor, what: str) -> bool:
        """Whether ``loss`` is NaN/Inf on any rank, so that every rank skips
        the update; counts skipped steps and stops after
        ``nonfinite_patience`` of them in a row."""
        bad = (~torch.isfinite(loss.detach())).any().float().reshape(1)
        if dist.get_world_size() > 1:  # same decision on every rank
            dist.all_reduce(bad, op='max')
        if not bad.item():
            self._nonfinite_streak = 0
            return False
        self.nonfinite_skipped += 1
        self._nonfinite_streak += 1
        print_log(
            f'SSD-KD: non-finite {what} loss ({loss.detach().float().item()})'
            f', step skipped ({self._nonfinite_streak} in a row, '
            f'{self.nonfinite_skipped} in total)', logger='current', level=30)
        if self._nonfinite_streak >= self.nonfinite_patience:
            raise FloatingPointError(
                f'{self._nonfinite_streak} non-finite losses in a row (the '
                f'last one in the {what} step); training stopped '
                f'(nonfinite_patience={self.nonfinite_patience}). Lower the '
                'learning rates or the loss weights, disable autocast, or '
                'check the teacher checkpoint, then resume from the last '
                'checkpoint (no non-finite checkpoint is ever written).')
        return True

    def _average_bn_ema(self) -> None:
        """Mean of the BN-statistics EMAs over ranks (no-op on one process):
        every rank then matches the statistics of the global synthetic batch
        and checkpoints describe all ranks."""
        if dist.get_world_size() < 2:
            return
        for ema in self.bn_loss.ema:
            if ema is not None:
                for t in ema:
                    dist.all_reduce(t, op='mean')

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

    def _gather_new_entries(self, x01, label, phi, prio):
        """All ranks' new samples (rank order), so that every rank inserts
        the same rows into its copy of the global buffer."""
        if dist.get_world_size() < 2:
            return x01, label, phi, prio
        rows = all_gather_rows(dict(
            images=ReplayBuffer.quantize(x01), pseudo_label=label, phi=phi,
            priority=prio))
        # uint8 on the wire; x/255 quantises back to the same uint8.
        return (rows['images'].float().div_(255), rows['pseudo_label'],
                rows['phi'], rows['priority'])

    def _update_sampled_entries(self, idx: torch.Tensor,
                                prio: torch.Tensor) -> None:
        """π_i ← π_i^new and the draw counts, with the draws of all
        ranks."""
        dev = self.buffer.device
        if dist.get_world_size() > 1:
            rows = all_gather_rows(dict(idx=idx, priority=prio))
            idx = rows['idx']
            self.buffer.update_priority(
                *last_write_wins(idx.to(dev), rows['priority'].to(dev)))
        else:
            self.buffer.update_priority(idx, prio.to(dev))
        self.buffer.mark_sampled(idx)

    def _gather_shards(self, stats):
        """(ŷ, 1 − conf, histogram, KL) of every rank's refresh shard."""
        label, unc, hist, kl = (torch.cat(t) for t in zip(*stats))
        rows = all_gather_rows(dict(label=label, unc=unc, hist=hist, kl=kl))
        return rows['label'], rows['unc'], rows['hist'], rows['kl']

    @torch.no_grad()
    def _discrepancy_stats(self, x01: torch.Tensor):
        """ŷ, teacher confidence, class histogram and KL(p_t ‖ p_s) at τ_p
        for images in [0, 1] (students in whatever mode the caller set)."""
        x = self.normalize(x01)
        t_logits = self.task.logits(unwrap(self.teacher), x)
        s_logits, t_logits = self.task.align(
            self.task.logits(unwrap(self.student), x), t_logits)
        unc, hist = self.task.phi_statistics(t_logits)
        kl = self.task.kl(s_logits, t_logits, self.smp_cfg['priority_tau'])
        return self.task.pseudo_label(t_logits), unc, hist, kl

    def _priority(self, phi: torch.Tensor, kl: torch.Tensor) -> torch.Tensor:
        """π = φ·KL + ε (or KL + ε), the discrepancy driving δ."""
        disc = phi * kl if self.smp_cfg['priority_uses_phi'] else kl
        return self.sampler.new_priority(disc)

    def _insert(self, x01: torch.Tensor,
                ref_counts: Optional[torch.Tensor]) -> Dict[str, float]:
        self._ensure_buffer_device()
        student = unwrap(self.student)
        mode = student.training
        student.eval()
        label, unc, hist, kl = self._discrepancy_stats(x01)
        student.train(mode)
        # Unnormalised φ: priorities of different rounds stay comparable.
        phi = self.modulating(unc, hist, ref_counts, normalize=False)
        prio = self._priority(phi, kl)
        k = self.inv_cfg['insert_top_k']
        if k is not None and k < len(prio):
            # "ordered": keep the round's samples with the highest φ·KL.
            keep = prio.topk(k).indices
            x01, label, phi, prio = x01[keep], label[keep], phi[keep], \
                prio[keep]
        if self.smp_cfg['new_priority'] == 'max' and len(self.buffer) > 0:
            prio = torch.full_like(prio, float(self.buffer.priority.max()))
        x01, label, phi, prio = self._gather_new_entries(x01, label, phi, prio)
        self.buffer.add(x01, phi, label, prio, step=self.rounds)
        return dict(buffer_size=float(len(self.buffer)),
                    unique_images=float(self.buffer.n_inserted_total))

    def distill_step(self, optim_s: OptimWrapper) -> Dict[str, torch.Tensor]:
        """One student step: x ~ δ (priority sampling), IS-weighted
        τ²·KL(p_t^τ ‖ p_s^τ), then π updated from the new discrepancy."""
        t0 = time.perf_counter()
        cfg = self.kd_cfg
        teacher, student = unwrap(self.teacher), self.student
        n = cfg['batch_size']
        if self.inv_cfg['source'] == 'noise':
            idx = None
            weights = torch.ones(n, device=self.device)
            x = torch.randn(
                n, *unwrap(self.generator).img_shape, device=self.device)
        else:
            self._ensure_buffer_device()
            idx, weights = self.sampler.sample(self.buffer.priority, n)
            x01 = self.buffer.get(idx).to(self.device, non_blocking=True)
            weights = weights.to(self.device)
            x = self.normalize(self.augment(x01))
        with torch.no_grad(), self._autocast(cfg['autocast']):
            t_logits = self.task.logits(teacher, x).float()
        with optim_s.optim_context(student):
            with self._autocast(cfg['autocast']):
                s_logits = self.task.logits(student, x)
            s_logits, t_logits = self.task.align(s_logits.float(), t_logits)
            kl = self.task.kl(s_logits, t_logits, cfg['tau'],
                              self._class_balance_weight(t_logits, idx))
            if cfg['cwd_weight'] > 0:
                kl = kl + cfg['cwd_weight'] * per_sample_cwd(
                    s_logits, t_logits, cfg['cwd_tau'])
            w = weights if cfg['importance_weighting'] else torch.ones_like(
                weights)
            if cfg['is_weight_norm'] == 'mean':
                w = w / w.mean()
            if cfg['phi_in_loss'] and idx is not None:
                w = w * self.buffer.phi[idx].to(w)
            loss = cfg['loss_weight'] * (w * kl).mean()
        if self._skip_nonfinite(loss, 'KD'):
            return dict(nonfinite_skipped=float(self.nonfinite_skipped))
        optim_s.update_params(loss)
        if idx is not None:
            with torch.no_grad():
                kl_p = self.task.kl(s_logits.detach(), t_logits,
                                    self.smp_cfg['priority_tau'])
                prio = self._priority(self.buffer.phi[idx].to(kl_p), kl_p)
                self._update_sampled_entries(idx, prio)
        self._average_student_bn_stats()
        self.kd_steps += 1
        self.kd_time += time.perf_counter() - t0
        return dict(loss_kd=loss.detach(), is_weight_mean=weights.mean())

    @torch.no_grad()
    def _class_balance_weight(self, t_logits: torch.Tensor,
                              idx: Optional[torch.Tensor]
                              ) -> Optional[torch.Tensor]:
        """Per-sample/pixel KD weights f(ŷ) = min(κ, N/(C·n_c))^η of the
        teacher's class ŷ, rescaled to batch mean 1 (``kd.class_balance``
        = η; ``None`` when off or when there is no buffer to count)."""
        eta = self.kd_cfg['class_balance']
        if not eta or idx is None:
            return None
        f = inverse_frequency(
            self.buffer.class_histogram(self.num_classes).to(t_logits),
            self.modulating.kappa, eta)
        weight = f[t_logits.argmax(1)]
        return weight / weight.mean().clamp_min(1e-12)

    @torch.no_grad()
    def refresh_buffer(self, chunk: int = 1024) -> None:
        """Recompute ŷ, φ and π over the whole buffer with the current
        student, so rarely drawn entries do not keep stale priorities."""
        if len(self.buffer) == 0:
            return
        self._ensure_buffer_device()
        student = unwrap(self.student)
        mode = student.training
        student.eval()
        all_idx = torch.arange(len(self.buffer), device=self.buffer.device)
        # Each rank scores a contiguous shard (all of it on one process).
        lo, hi = shard_range(len(self.buffer))
        stats = [
            self._discrepancy_stats(
                self.buffer.get(all_idx[s:min(s + chunk, hi)]).to(
                    self.device)) for s in range(lo, hi, chunk)
        ]
        if not stats:  # fewer entries than ranks: no rows, right shapes
            stats = [tuple(t[:0] for t in self._discrepancy_stats(
                self.buffer.get(all_idx[:1]).to(self.device)))]
        student.train(mode)
        label, unc, hist, kl = self._gather_shards(stats)
        # Class counts over the buffer itself; φ unnormalised as at insertion.
        phi = self.modulating(unc, hist, normalize=False)
        dev = self.buffer.device
        self.buffer.update_entries(
            all_idx, phi=phi.to(dev), pseudo_label=label.to(dev),
            priority=self._priority(phi, kl).to(dev))

    # ------------------------------------------------------------ state
    def ssdkd_state_dict(self) -> dict:
        """Counters and BN-EMA state (buffer and sampler are persisted by
        their own hooks)."""
        return dict(
            bn_loss=self.bn_loss.state_dict(),
            rounds=self.rounds,
            kd_steps=self.kd_steps,
            synth_time=self.synth_time,
            kd_time=self.kd_time,
            nonfinite_skipped=self.nonfinite_skipped)

    def load_ssdkd_state_dict(self, state: dict) -> None:
        self.bn_loss.load_state_dict(state['bn_loss'])
        self.rounds = state['rounds']
        self.kd_steps = state['kd_steps']
        self.synth_time = state['synth_time']
        self.kd_time = state['kd_time']
        self.nonfinite_skipped = state.get('nonfinite_skipped', 0)
