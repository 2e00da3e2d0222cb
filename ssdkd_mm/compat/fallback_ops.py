# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Pure-PyTorch stand-ins for the two ``mmcv.ops`` that mmseg imports at
module level (compat fix C3, :func:`ssdkd_mm.compat.fix_mmcv_ops`)."""
from typing import Optional

import torch
import torch.nn.functional as F


def point_sample(input: torch.Tensor,
                 points: torch.Tensor,
                 align_corners: bool = False,
                 **kwargs) -> torch.Tensor:
    """Sample ``input`` at points given in ``[0, 1]`` image coordinates.

    Pure-PyTorch stand-in for ``mmcv.ops.point_sample``: a
    :func:`torch.nn.functional.grid_sample` call after mapping the points
    from ``[0, 1]`` to grid_sample's ``[-1, 1]``.

    Args:
        input (Tensor): Feature map of shape (N, C, H, W).
        points (Tensor): (x, y) points of shape (N, P, 2) or
            (N, Hgrid, Wgrid, 2), in ``[0, 1]``.
        align_corners (bool): As in ``grid_sample``: whether 0 and 1 are the
            centres (True) or the outer edges (False) of the corner pixels.
            Defaults to False.
        **kwargs: Other ``grid_sample`` arguments (``mode``,
            ``padding_mode``).

    Returns:
        Tensor: Shape (N, C, P) or (N, C, Hgrid, Wgrid).
    """
    flat = points.dim() == 3
    grid = points.unsqueeze(2) if flat else points
    output = F.grid_sample(
        input, grid * 2.0 - 1.0, align_corners=align_corners, **kwargs)
    return output.squeeze(3) if flat else output


def sigmoid_focal_loss(pred: torch.Tensor,
                       target: torch.Tensor,
                       gamma: float = 2.0,
                       alpha: float = 0.25,
                       weight: Optional[torch.Tensor] = None,
                       reduction: str = 'mean') -> torch.Tensor:
    """Sigmoid focal loss with class-index targets, in pure PyTorch.

    Same signature and result as ``mmcv.ops.sigmoid_focal_loss``. For logit
    ``x[n, c]`` with ``p = sigmoid(x)``, the loss is
    ``-alpha * (1 - p)**gamma * log(p)`` where ``c == target[n]`` and
    ``-(1 - alpha) * p**gamma * log(1 - p)`` elsewhere; a target equal to
    the number of classes marks background (negative for every class).

    Args:
        pred (Tensor): Logits of shape (N, C).
        target (Tensor): Class indices (long) of shape (N, ), in ``[0, C]``.
        gamma (float): Focusing exponent. Defaults to 2.0.
        alpha (float): Weight of the positive term. Defaults to 0.25.
        weight (Tensor, optional): Per-class weights of shape (C, ); every
            element of sample ``n`` is scaled by ``weight[target[n]]``.
        reduction (str): ``'none'`` (N, C), ``'mean'`` (sum / N) or
            ``'sum'``. Defaults to ``'mean'``.

    Returns:
        Tensor: The loss.
    """
    assert pred.dim() == 2 and target.dim() == 1
    assert pred.size(0) == target.size(0)
    assert target.dtype == torch.long
    assert reduction in ('none', 'mean', 'sum'), reduction
    num_classes = pred.size(1)
    classes = torch.arange(num_classes, device=pred.device)
    # A target outside [0, C) (background) is negative for every class.
    positive = (target.unsqueeze(1) == classes).to(pred.dtype)
    prob = pred.sigmoid()
    # logsigmoid(x) = log(p) and logsigmoid(-x) = log(1 - p), without log(0)
    pos_term = -alpha * (1 - prob).pow(gamma) * F.logsigmoid(pred)
    neg_term = -(1 - alpha) * prob.pow(gamma) * F.logsigmoid(-pred)
    loss = positive * pos_term + (1 - positive) * neg_term
    if weight is not None:
        assert weight.dim() == 1 and weight.numel() == num_classes
        loss = loss * weight[target].unsqueeze(1)
    if reduction == 'mean':
        return loss.sum() / pred.size(0)
    if reduction == 'sum':
        return loss.sum()
    return loss
