# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Contrastive Model Inversion (Fang et al., IJCAI 2021) as one
self-contained synthesizer: a generator inverted from the teacher per round
(BN statistics, one-hot, adversarial) plus a contrastive term that pushes
each new image's teacher features away from those of the images already
synthesised, kept in a feature memory bank, through a small projection head.

Defaults as Fast-DFKD's harness runs CMI (zju-vipa/Fast-Datafree
``scripts/cmi_cifar.sh`` and ``datafree_kd.py``): lr_g 1e-3, bn 1, oh 1,
adv 0.5, cr 0.8, cr_T 0.2, nz 256, a bank of 40,960 features, 4,096
negatives, head dimension 256, the generator re-initialised every round
(``feature_reuse=False``); 500 iterations as the tables' "CMI-500" (the
script runs 200). The inputs are explicit: the models and the settings
(:meth:`CMISynthesizer.invert`); as the algorithm's image source
(``model.inversion=dict(type='CMISynthesizer')``) :meth:`synthesize` takes
them, and the shared generator, from its
:class:`~.base.SynthesisInputs`."""
import copy
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...registry import SYNTHESIZERS
from ...utils.modules import first_tensor
from .base import SynthesisInputs
from .explicit import ExplicitRoundSynthesizer
from .losses import (BNStatistics, Normalize, adversarial, crop_flip,
                     identity, resized_crop_flip)


class ProjectionHead(nn.Module):
    """Two-layer MLP to an l2-normalised ``dim``-vector."""

    def __init__(self, in_dim: int, dim: int = 256) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, in_dim), nn.ReLU(),
                                 nn.Linear(in_dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.mlp(x), dim=1)


class FeatureBank:
    """A ring buffer of ``size`` feature rows; :meth:`sample` draws up to
    ``k`` stored rows without replacement."""

    def __init__(self, size: int, dim: int) -> None:
        self.data = torch.zeros(size, dim)
        self.ptr = 0
        self.n_added = 0

    def __len__(self) -> int:
        return min(self.n_added, len(self.data))

    def add(self, feats: torch.Tensor) -> None:
        feats = feats.detach().cpu()[:len(self.data)]
        idx = (self.ptr + torch.arange(len(feats))) % len(self.data)
        self.data[idx] = feats
        self.ptr = int((self.ptr + len(feats)) % len(self.data))
        self.n_added += len(feats)

    def sample(self, k: int) -> torch.Tensor:
        n = len(self)
        return self.data[torch.randperm(n)[:min(k, n)]]

    def state_dict(self) -> Dict:
        return dict(data=self.data.clone(), ptr=self.ptr,
                    n_added=self.n_added)

    def load_state_dict(self, state: Dict) -> None:
        self.data = state['data'].clone()
        self.ptr, self.n_added = int(state['ptr']), int(state['n_added'])


def resnet34_stages(model: nn.Module) -> Optional[List[str]]:
    """The names of the four stages (``layer1`` … ``layer4``) of a depth-34
    ResNet inside ``model``, or None when it has none."""
    for name, m in model.named_modules():
        if getattr(m, 'depth', None) == 34 and all(
                hasattr(m, f'layer{i}') for i in range(1, 5)):
            prefix = f'{name}.' if name else ''
            return [f'{prefix}layer{i}' for i in range(1, 5)]
    return None


def reinit(module: nn.Module) -> None:
    """DCGAN initialisation (the harness resets the generator each round)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


@SYNTHESIZERS.register_module()
class CMISynthesizer(ExplicitRoundSynthesizer):
    """Generator + feature memory bank + contrastive head.

    Args:
        generator (nn.Module, optional): z (``nz``) → images in [0, 1]; as
            an image source, the algorithm's generator (its latent size
            must be ``nz``).
        num_classes (int, optional): Classes of the teacher; as an image
            source, the algorithm's.
        nz (int): Latent size. Defaults to 256.
        iterations (int): Generator steps per round. Defaults to 500.
        lr_g (float): Adam lr of generator, z and head. Defaults to 1e-3.
        bn, oh, adv (float): Inversion weights. Defaults 1, 1, 0.5.
        cr (float): Contrastive weight. Defaults to 0.8.
        cr_T (float): Contrastive temperature. Defaults to 0.2.
        bank_size (int): Feature rows kept. Defaults to 40960.
        n_neg (int): Negatives drawn per step. Defaults to 4096.
        head_dim (int): Projection size. Defaults to 256.
        feature_layers (list of str | str, optional): Names of the
            teacher's modules whose spatial means are the contrastive
            features; None: every BatchNorm2d; ``'auto'``: as the harness
            picks them, the four stage outputs of a ResNet-34 teacher
            (``--teacher resnet34``), else every BatchNorm2d. Defaults to
            None.
        reset_generator (bool): Re-initialise the generator every round.
            Defaults to True.
        normalize (callable): [0, 1] images → the teacher's input.
        synth_batch_size (int): Images per round as an image source.
            Defaults to 256.
        autocast (str, optional): Precision of the forwards as an image
            source. Defaults to None (fp32).
    """

    def __init__(self,
                 generator: Optional[nn.Module] = None,
                 num_classes: Optional[int] = None,
                 nz: int = 256,
                 iterations: int = 500,
                 lr_g: float = 1e-3,
                 bn: float = 1.0,
                 oh: float = 1.0,
                 adv: float = 0.5,
                 cr: float = 0.8,
                 cr_T: float = 0.2,
                 bank_size: int = 40960,
                 n_neg: int = 4096,
                 head_dim: int = 256,
                 feature_layers: Union[Sequence[str], str, None] = None,
                 reset_generator: bool = True,
                 normalize: Optional[Normalize] = None,
                 synth_batch_size: int = 256,
                 autocast: Optional[str] = None) -> None:
        super().__init__(synth_batch_size, autocast)
        if iterations < 1 or cr_T <= 0 or bank_size < 1:
            raise ValueError('iterations >= 1, cr_T > 0, bank_size >= 1')
        self.generator = generator
        self.num_classes = num_classes
        self.nz = nz
        self.iterations = iterations
        self.lr_g = lr_g
        self.weights = dict(bn=bn, oh=oh, adv=adv, cr=cr)
        self.cr_T = cr_T
        self.bank_size = bank_size
        self.n_neg = n_neg
        self.head_dim = head_dim
        self.feature_layers = feature_layers
        self.reset_generator = reset_generator
        self.normalize = normalize or identity
        self.head: Optional[ProjectionHead] = None
        self.head_opt = None
        self.bank: Optional[FeatureBank] = None
        self.rounds = 0
        self.last_losses: List[float] = []
        self._pending: Optional[Dict] = None  # state before the generator

    # features -------------------------------------------------------------
    def _feature_hooks(self, teacher: nn.Module, store: List):
        mods = dict(teacher.named_modules())
        names = self.feature_layers
        if names == 'auto':
            names = resnet34_stages(teacher)
        if names is None:
            chosen = [m for m in mods.values()
                      if isinstance(m, nn.BatchNorm2d)]
        else:
            chosen = [mods[n] for n in names]

        def fn(module, inputs, output):
            store.append(output.mean(dim=(2, 3)))

        return [m.register_forward_hook(fn) for m in chosen]

    def _features(self, teacher, x, store) -> Tuple[torch.Tensor,
                                                    torch.Tensor]:
        store.clear()
        out = first_tensor(teacher(self.normalize(x)))
        return out, torch.cat(store, dim=1)

    def _build(self, dim: int, device) -> None:
        self.head = ProjectionHead(dim, self.head_dim).to(device)
        self.head_opt = torch.optim.Adam(self.head.parameters(), self.lr_g)
        self.bank = FeatureBank(self.bank_size, 2 * dim)

    def contrastive(self, local: torch.Tensor,
                    glob: torch.Tensor) -> torch.Tensor:
        """InfoNCE between the local and global views of the batch and of
        ``n_neg`` banked images: each local view must pick its own global
        view among all global views."""
        n = len(local)
        cached = self.bank.sample(self.n_neg).to(local.device)
        c_local, c_glob = cached.chunk(2, dim=1)
        proj = self.head(torch.cat([local, c_local, glob, c_glob]))
        p_local, p_glob = proj.chunk(2, dim=0)
        logits = p_local @ p_glob.detach().t() / self.cr_T
        ce = F.cross_entropy(logits, torch.arange(len(logits),
                                                  device=local.device),
                             reduction='none')
        if len(cached):
            return ce[:n].mean() + ce[n:].mean()
        return ce.mean()

    # one round ------------------------------------------------------------
    def synthesize(self, inputs: SynthesisInputs, optim_g=None) -> Dict:
        """One round as the algorithm's image source: a batch of
        ``synth_batch_size`` from the shared generator (re-initialised
        first, trained by this round's own Adam; ``optim_g`` is unused) for
        the replay; the adversarial term only when ``inputs.adversarial``."""
        generator = inputs.generator
        if generator.latent_dim != self.nz:
            raise ValueError(
                f'inversion.nz ({self.nz}) differs from the generator\'s '
                f'latent size ({generator.latent_dim}); set model.generator.'
                'nz or model.inversion.nz so that they agree.')
        self.generator = generator
        self.num_classes = inputs.num_classes
        self.normalize = inputs.normalize
        if self._pending is not None:
            self.load_state_dict(self._pending)
        with self.round_context(inputs):
            x, _ = self.invert(
                inputs.teacher,
                inputs.student if inputs.adversarial else None,
                self.batch_size, device=inputs.device)
        return dict(images=x.float(),
                    log=self.round_log('cmi', self.last_losses))

    def invert(self, teacher: nn.Module,
               student: Optional[nn.Module] = None,
               batch_size: int = 256,
               targets: Optional[torch.Tensor] = None,
               device=None) -> Tuple[torch.Tensor, torch.Tensor]:
        """One batch ``(images in [0, 1], targets)``: the images of the
        lowest-loss step; their features enter the bank."""
        device = device or next(teacher.parameters()).device
        teacher.eval()
        if student is not None:
            student.eval()
        if targets is None:
            targets = torch.randint(0, self.num_classes, (batch_size, ),
                                    device=device).sort()[0]
        targets = targets.to(device)
        store: List[torch.Tensor] = []
        handles = self._feature_hooks(teacher, store)
        bn_stats = BNStatistics(teacher)
        try:
            if self.head is None:
                with torch.no_grad():
                    probe = torch.rand(2, *self._img_shape(device),
                                       device=device)
                    _, f = self._features(teacher, probe, store)
                self._build(f.shape[1], device)
            if self.reset_generator:
                reinit(self.generator)
            self.generator.train()
            z = torch.randn(len(targets), self.nz, device=device,
                            requires_grad=True)
            opt = torch.optim.Adam([{'params': self.generator.parameters()},
                                    {'params': [z]}], self.lr_g,
                                   betas=(0.5, 0.999))
            w = self.weights
            best, best_feats, best_loss = None, None, float('inf')
            self.last_losses = []
            for _ in range(self.iterations):
                x = self.generator(z)
                view = crop_flip(x)
                t_out, glob = self._features(teacher, view, store)
                loss = w['bn'] * bn_stats.loss() + w['oh'] * \
                    F.cross_entropy(t_out, targets)
                if student is not None and w['adv']:
                    s_out = first_tensor(student(self.normalize(view)))
                    loss = loss + w['adv'] * adversarial(s_out, t_out)
                _, local = self._features(teacher, resized_crop_flip(x),
                                          store)
                if w['cr']:
                    loss = loss + w['cr'] * self.contrastive(local, glob)
                value = float(loss.detach())
                self.last_losses.append(value)
                if value < best_loss:
                    best_loss, best = value, x.detach().clone()
                    best_feats = torch.cat([local, glob], 1).detach().float()
                opt.zero_grad()
                self.head_opt.zero_grad()
                params = list(self.generator.parameters()) + [z] + list(
                    self.head.parameters())
                grads = torch.autograd.grad(loss, params, allow_unused=True)
                for p, g in zip(params, grads):
                    p.grad = g
                opt.step()
                self.head_opt.step()
        finally:
            bn_stats.remove()
            for h in handles:
                h.remove()
        self.bank.add(best_feats)
        self.rounds += 1
        return best, targets

    def _img_shape(self, device) -> Tuple[int, ...]:
        self.generator.eval()
        with torch.no_grad():
            shape = tuple(self.generator(torch.zeros(
                1, self.nz, device=device)).shape[1:])
        self.generator.train()
        return shape

    def state_dict(self) -> Dict:
        if self.generator is None:  # nothing ran since a restore
            return dict(self._pending or dict(rounds=self.rounds))
        return dict(
            rounds=self.rounds,
            generator=self.generator.state_dict(),
            head=None if self.head is None else self.head.state_dict(),
            head_opt=None if self.head is None else
            self.head_opt.state_dict(),
            bank=None if self.bank is None else self.bank.state_dict())

    def load_state_dict(self, state: Dict) -> None:
        self.rounds = int(state['rounds'])
        if self.generator is None:  # applied once the generator is given
            self._pending = state
            return
        self._pending = None
        if 'generator' not in state:
            return
        self.generator.load_state_dict(state['generator'])
        if state.get('head') is not None:
            device = next(self.generator.parameters()).device
            dim = state['bank']['data'].shape[1] // 2
            self._build(dim, device)
            self.head.load_state_dict(state['head'])
            self.head_opt.load_state_dict(copy.deepcopy(state['head_opt']))
            self.bank.load_state_dict(state['bank'])


__all__ = ['CMISynthesizer', 'FeatureBank', 'ProjectionHead', 'reinit',
           'resnet34_stages']
