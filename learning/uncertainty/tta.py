"""Test-time augmentation variance over flips (Wang et al. 2019, aleatoric TTA baseline).

Why: a cheap model-agnostic uncertainty: predictions that change under flips are unreliable.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from learning.uncertainty._common import foreground_probability

__all__ = ["flip_sets", "tta_probs", "tta_variance", "volume_tta_probs"]


def flip_sets(spatial_dims: int) -> list[tuple[int, ...]]:
    """All subsets of the last two spatial axes to flip (identity first): 4 transforms."""
    axes = [-1, -2] if spatial_dims >= 2 else [-1]
    return [c for r in range(len(axes) + 1) for c in itertools.combinations(axes, r)]


def tta_probs(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Foreground probabilities under every flip of ``flip_sets``, mapped back: ``(T, B, *spatial)``."""
    was = model.training
    model.eval()
    out = []
    try:
        with torch.inference_mode():
            for dims in flip_sets(x.ndim - 2):
                xf = torch.flip(x, dims) if dims else x
                p = foreground_probability(model(xf))
                out.append(torch.flip(p, dims) if dims else p)
    finally:
        model.train(was)
    return torch.stack(out).float()


def tta_variance(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Voxel variance of the flipped predictions, ``(B, *spatial)``."""
    return tta_probs(model, x).var(0, unbiased=False)


def volume_tta_probs(volume: np.ndarray, predict_fg: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """The same flips on a whole ``(Z, Y, X)`` volume through a volume predictor, mapped back.

    For inference that is not one call on a tensor batch (sliding windows over a stored volume in the
    scoring job): ``predict_fg`` maps a volume to its ``(Z, Y, X)`` foreground probabilities.

    Returns:
        ``(T, Z, Y, X)`` float32, one map per flip of ``flip_sets(2)`` (identity first).
    """
    out = []
    for axes in flip_sets(2):
        p = predict_fg(np.ascontiguousarray(np.flip(volume, axes)) if axes else volume)
        out.append(np.flip(p, axes) if axes else p)
    return np.stack(out).astype(np.float32, copy=False)
