"""Input checks shared by the metric modules: shapes, dtypes and spacing, with messages that name the problem."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__: list[str] = []


def as_mask(a: np.ndarray, name: str = "mask") -> np.ndarray:
    """Return ``a`` as a bool array (nonzero = foreground); keeps the shape."""
    arr = np.asarray(a)
    if arr.dtype == np.bool_:
        return arr
    return arr != 0


def as_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two masks of the same shape as bool arrays; ValueError on a shape mismatch."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"masks differ in shape: {a.shape} vs {b.shape}")
    return as_mask(a, "a"), as_mask(b, "b")


def as_stack(masks: np.ndarray | Sequence[np.ndarray], *, min_raters: int = 1) -> np.ndarray:
    """Rater masks as one ``(R, *spatial)`` array; accepts a sequence of equal-shape arrays."""
    if isinstance(masks, np.ndarray):
        arr = masks
    else:
        shapes = {np.shape(m) for m in masks}
        if len(shapes) > 1:
            raise ValueError(f"rater masks differ in shape: {sorted(shapes)}")
        arr = np.stack([np.asarray(m) for m in masks])
    if arr.ndim < 2:
        raise ValueError(f"expected a (R, Z, Y, X) stack of rater masks, got shape {arr.shape}")
    if arr.shape[0] < min_raters:
        raise ValueError(f"need at least {min_raters} raters, got {arr.shape[0]}")
    if arr.dtype.kind == "f":
        if not np.all(arr == np.round(arr)):
            raise ValueError("rater masks must hold integer labels, got non-integer floats")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "biu":
        raise ValueError(f"rater masks must be bool or integer, got dtype {arr.dtype}")
    if arr.dtype.kind == "i" and arr.size and arr.min() < 0:
        raise ValueError("rater masks must hold non-negative labels")
    return arr


def check_spacing(spacing: Sequence[float], ndim: int) -> tuple[float, ...]:
    """Spacing as a tuple of positive floats, one per spatial axis (array order, mm)."""
    sp = tuple(float(s) for s in spacing)
    if len(sp) != ndim:
        raise ValueError(f"spacing has {len(sp)} values for a {ndim}-D mask")
    if not all(np.isfinite(s) and s > 0 for s in sp):
        raise ValueError(f"spacing must be positive and finite, got {sp}")
    return sp
