# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Differentiable batch augmentation for synthetic images (no kornia)."""
import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F


class BatchAugment:
    """Per-sample random scale (zoom in/out), random crop with zero padding,
    random horizontal flip, colour jitter and hue rotation.

    Works on (N, C, H, W) tensors in [0, 1], keeps gradients to the input (the
    generator is trained through it) and is vectorised. Teacher and student
    always see the same augmented image, so any augmentation is label-free:
    the teacher's output on it is the target.

    Args:
        crop_padding (int): Padding of the random crop; 0 disables cropping.
            Defaults to 4.
        hflip (bool): Random horizontal flip with probability 0.5.
            Defaults to True.
        scale (tuple, optional): ``(low, high)`` range of a per-sample zoom
            factor (> 1 zooms in, < 1 zooms out with zero borders), with a
            random shift that keeps the image inside the frame when zooming
            in; like mmseg's ``RandomResize`` + crop for dense tasks.
            ``None`` disables it. Defaults to None.
        color_jitter (float): Strength s of per-sample brightness, contrast
            and saturation factors drawn from [1 − s, 1 + s]; 0 disables it.
            Defaults to 0.
        hue (float): Largest per-sample hue rotation as a fraction of a full
            turn: the RGB vector is rotated about the grey axis by an angle
            drawn from [−hue, hue]·360° (0.5: any hue; a rotation by 120° is a
            channel permutation). Grey levels are unchanged. RGB images only
            (an error otherwise); 0 disables it. Defaults to 0.
    """

    def __init__(self,
                 crop_padding: int = 4,
                 hflip: bool = True,
                 scale: Optional[Sequence[float]] = None,
                 color_jitter: float = 0.0,
                 hue: float = 0.0) -> None:
        if crop_padding < 0:
            raise ValueError(f'augment.crop_padding must be >= 0, got '
                             f'{crop_padding}')
        if scale is not None:
            scale = tuple(float(v) for v in scale)
            if len(scale) != 2 or not 0 < scale[0] <= scale[1]:
                raise ValueError('augment.scale must be None or (low, high) '
                                 f'with 0 < low <= high, got {scale}')
        if not 0 <= color_jitter < 1:
            raise ValueError('augment.color_jitter must be in [0, 1), got '
                             f'{color_jitter}')
        if not 0 <= hue <= 0.5:
            raise ValueError(f'augment.hue must be in [0, 0.5] (a fraction of '
                             f'a full turn), got {hue}')
        self.crop_padding, self.hflip = crop_padding, hflip
        self.scale, self.color_jitter = scale, float(color_jitter)
        self.hue = float(hue)

    def _rand(self, shape, x, generator):
        return torch.rand(shape, generator=generator, device=x.device)

    def _rescale(self, x, generator):
        n = x.shape[0]
        lo, hi = self.scale
        zoom = self._rand(n, x, generator) * (hi - lo) + lo
        inv = 1.0 / zoom  # the output shows 1/zoom of the input's extent
        room = (1.0 - inv).abs()
        shift = (self._rand((2, n), x, generator) * 2 - 1) * room
        theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
        theta[:, 0, 0] = inv
        theta[:, 1, 1] = inv
        theta[:, 0, 2] = shift[0]
        theta[:, 1, 2] = shift[1]
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode='bilinear', padding_mode='zeros',
                             align_corners=False)

    def _jitter(self, x, generator):
        n, s = x.shape[0], self.color_jitter
        f = (self._rand((3, n, 1, 1, 1), x, generator) * 2 - 1) * s + 1
        x = x * f[0]  # brightness
        mean = x.mean((1, 2, 3), keepdim=True)
        x = (x - mean) * f[1] + mean  # contrast
        if x.shape[1] == 3:
            gray = x.mean(1, keepdim=True)
            x = (x - gray) * f[2] + gray  # saturation
        return x.clamp(0, 1)

    def _hue(self, x, generator):
        """Rotate each image's RGB vectors about the grey axis (Rodrigues'
        formula for the unit axis (1, 1, 1)/√3)."""
        n = x.shape[0]
        turn = self.hue * 2 * math.pi
        theta = (self._rand(n, x, generator) * 2 - 1) * turn
        cos, sin = theta.cos(), theta.sin()
        eye = torch.eye(3, device=x.device, dtype=cos.dtype)
        cross = torch.tensor([[0., -1., 1.], [1., 0., -1.], [-1., 1., 0.]],
                             device=x.device, dtype=cos.dtype) / math.sqrt(3)
        rot = (cos[:, None, None] * eye + sin[:, None, None] * cross +
               (1 - cos)[:, None, None] / 3)
        x = torch.einsum('nij,njhw->nihw', rot.to(x.dtype), x)
        return x.clamp(0, 1)

    @staticmethod
    def new_view(device: torch.device) -> torch.Generator:
        """The random generator of one augmented view, seeded from the
        global RNG (so runs stay reproducible); :meth:`replay_view` gives
        the same view again."""
        seed = int(torch.randint(2**62, ()))
        return torch.Generator(device).manual_seed(seed)

    @staticmethod
    def replay_view(view: torch.Generator) -> torch.Generator:
        """A generator in the state ``view`` had when it was made."""
        return torch.Generator(view.device).manual_seed(view.initial_seed())

    def __call__(self,
                 x: torch.Tensor,
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
        x = self.geometry(x, generator)
        if self.color_jitter > 0:
            x = self._jitter(x, generator)
        if self.hue > 0:
            if x.shape[1] != 3:
                raise ValueError(
                    f'augment.hue rotates RGB colours, but the images have '
                    f'{x.shape[1]} channel(s): set augment.hue=0.')
            x = self._hue(x, generator)
        return x

    def geometry(self,
                 x: torch.Tensor,
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """The zoom, crop and flip alone. They draw their random numbers
        before the colour jitter does, so two calls with generators in the
        same state move (N, any C, H, W) maps the same way: dense targets
        follow their image (see ``SegTaskAdapter.warp_targets``)."""
        if self.scale is not None and self.scale != (1.0, 1.0):
            x = self._rescale(x, generator)
        n, c, h, w = x.shape
        p = self.crop_padding
        if p > 0:
            padded = F.pad(x, (p, p, p, p))
            off = torch.randint(0, 2 * p + 1, (2, n), generator=generator,
                                device=x.device)
            rows = off[0][:, None] + torch.arange(h, device=x.device)
            cols = off[1][:, None] + torch.arange(w, device=x.device)
            padded = padded.gather(
                2, rows[:, None, :, None].expand(n, c, h, w + 2 * p))
            x = padded.gather(3, cols[:, None, None, :].expand(n, c, h, w))
        if self.hflip:
            flip = torch.rand(n, generator=generator, device=x.device) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
        return x


class BatchMix:
    """Mix each image of a batch with another image of the same batch:
    ``'mixup'`` blends them, ``x_i ← λ_i·x_i + (1 − λ_i)·x_j``; ``'cutmix'``
    pastes a box of x_j covering 1 − λ_i of x_i. λ_i ~ Beta(α, α), folded to
    λ_i ≥ 0.5 so x_i stays the larger part; each image is mixed with
    probability ``prob`` (λ_i = 1 otherwise); j is a random permutation.

    Label-free like :class:`BatchAugment`: the teacher's output on the mixed
    image is the target. A small replay buffer is drawn many times over; the
    mixtures give the student inputs it has not seen from the same images.

    Args:
        mode (str): ``'mixup'`` or ``'cutmix'``. Defaults to ``'mixup'``.
        alpha (float): α > 0 of the Beta distribution. Defaults to 1.
        prob (float): Share of images mixed, in (0, 1]. Defaults to 1.
    """

    MODES = ('mixup', 'cutmix')

    def __init__(self, mode: str = 'mixup', alpha: float = 1.0,
                 prob: float = 1.0) -> None:
        if mode not in self.MODES:
            raise ValueError(f'mix.mode must be one of {self.MODES}, got '
                             f'{mode!r}')
        if not alpha > 0:
            raise ValueError(f'mix.alpha must be > 0, got {alpha!r}')
        if not 0 < prob <= 1:
            raise ValueError(f'mix.prob must be in (0, 1], got {prob!r}')
        self.mode, self.alpha, self.prob = mode, float(alpha), float(prob)
        self._beta = torch.distributions.Beta(
            torch.tensor(self.alpha), torch.tensor(self.alpha))

    def __call__(self, x: torch.Tensor):
        """``(mixed, lam)``: the mixed (N, C, H, W) batch and the share λ_i
        of each image's own pixels in it (N,)."""
        n, _, h, w = x.shape
        if n < 2:
            return x, x.new_ones(n)
        lam = self._beta.sample((n,)).to(x.device)
        lam = torch.maximum(lam, 1 - lam)
        lam = torch.where(torch.rand(n, device=x.device) < self.prob, lam,
                          torch.ones_like(lam))
        # a random cyclic derangement: partner j != i for every i
        perm = torch.randperm(n, device=x.device)
        partner = perm.roll(1)[perm.argsort()]
        other = x[partner]
        if self.mode == 'mixup':
            lam_x = lam.to(x.dtype)[:, None, None, None]
            return lam_x * x + (1 - lam_x) * other, lam
        # cutmix: a box of side ratio sqrt(1 − λ), centre uniform, clipped
        side = (1 - lam).sqrt()
        bh, bw = (side * h).round(), (side * w).round()
        cy = torch.rand(n, device=x.device) * h
        cx = torch.rand(n, device=x.device) * w
        y0 = (cy - bh / 2).clamp(0, h)
        y1 = (cy + bh / 2).clamp(0, h)
        x0 = (cx - bw / 2).clamp(0, w)
        x1 = (cx + bw / 2).clamp(0, w)
        rows = torch.arange(h, device=x.device)[None, :] + 0.5
        cols = torch.arange(w, device=x.device)[None, :] + 0.5
        in_r = (rows >= y0[:, None]) & (rows < y1[:, None])
        in_c = (cols >= x0[:, None]) & (cols < x1[:, None])
        box = in_r[:, :, None] & in_c[:, None, :]  # (N, H, W)
        mixed = torch.where(box[:, None], other, x)
        return mixed, 1 - box.flatten(1).float().mean(1)
