"""Set-to-set distances between segmentations: generalized energy distance and Hungarian-matched IoU.

Why: a probabilistic model's samples should match the *spread* of the raters, not only their mean;
GED and Hungarian IoU compare two sets of masks (Kohl et al. 2018, "A Probabilistic U-Net";
Kohl et al. 2019, "A Hierarchical Probabilistic U-Net").

Distance: d(x, y) = 1 - IoU(x, y), with d(empty, empty) = 0 (IoU of two empty masks is 1).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["pairwise_iou_matrix", "ged", "hungarian_iou"]

_BLOCK = 1 << 22  # voxels per float32 block: counts stay exact in float32 (< 2**24)


def _flat(masks: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(masks)
    if arr.ndim < 2:
        raise ValueError(f"{name} must be a (N, ...) stack of masks, got shape {arr.shape}")
    return arr.reshape(arr.shape[0], -1)


def pairwise_iou_matrix(set_a: np.ndarray, set_b: np.ndarray | None = None) -> np.ndarray:
    """IoU of every mask of ``set_a`` with every mask of ``set_b``, by blocked matrix products.

    Args:
        set_a: (N, Z, Y, X) bool/uint8 masks (nonzero = foreground).
        set_b: (M, Z, Y, X); default ``set_a``.
    Returns:
        (N, M) float64 IoU; 1.0 where both masks are empty.
    Raises:
        ValueError: spatial shapes differ.
    """
    a = _flat(set_a, "set_a")
    b = a if set_b is None else _flat(set_b, "set_b")
    if set_b is not None and np.shape(set_a)[1:] != np.shape(set_b)[1:]:
        raise ValueError(f"mask shapes differ: {np.shape(set_a)[1:]} vs {np.shape(set_b)[1:]}")
    inter = np.zeros((a.shape[0], b.shape[0]))
    size_a = np.zeros(a.shape[0])
    size_b = np.zeros(b.shape[0])
    for start in range(0, a.shape[1], _BLOCK):
        fa = (a[:, start : start + _BLOCK] != 0).astype(np.float32)
        fb = fa if b is a else (b[:, start : start + _BLOCK] != 0).astype(np.float32)
        inter += fa @ fb.T
        size_a += fa.sum(axis=1, dtype=np.float64)
        size_b += fb.sum(axis=1, dtype=np.float64)
    union = size_a[:, None] + size_b[None, :] - inter
    return np.divide(inter, union, out=np.ones_like(inter), where=union > 0)


def ged(set_a: np.ndarray, set_b: np.ndarray) -> float:
    """Squared generalized energy distance D^2 = 2 E[d(a, b)] - E[d(a, a')] - E[d(b, b')].

    Expectations are means over all pairs, including a mask with itself (d = 0), as in the
    reference implementations of the probabilistic U-Net papers; so the value is >= 0.

    Args:
        set_a: (N, Z, Y, X) masks, e.g. model samples.
        set_b: (M, Z, Y, X) masks, e.g. the raters' masks.
    Returns:
        D^2_GED (dimensionless, in [0, 2]).
    Raises:
        ValueError: spatial shapes differ.
    """
    a = np.asarray(set_a)
    b = np.asarray(set_b)
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"mask shapes differ: {a.shape[1:]} vs {b.shape[1:]}")
    both = np.concatenate([_flat(a, "set_a"), _flat(b, "set_b")])
    d = 1.0 - pairwise_iou_matrix(both)
    n = a.shape[0]
    return float(2.0 * d[:n, n:].mean() - d[:n, :n].mean() - d[n:, n:].mean())


def hungarian_iou(set_a: np.ndarray, set_b: np.ndarray) -> float:
    """Mean IoU of the best one-to-one matching between two sets of masks.

    Sets of different sizes are replicated to lcm(N, M) members each before matching (Kohl et al.
    2019, appendix: "Hungarian-matched IoU").

    Args:
        set_a: (N, Z, Y, X) masks.
        set_b: (M, Z, Y, X) masks.
    Returns:
        Mean matched IoU in [0, 1].
    """
    iou = pairwise_iou_matrix(set_a, set_b)
    n, m = iou.shape
    k = math.lcm(n, m)
    tiled = np.tile(iou, (k // n, k // m))
    rows, cols = linear_sum_assignment(tiled, maximize=True)
    return float(tiled[rows, cols].mean())
