"""Case-level aggregation of voxel uncertainty maps.

Why: acquisition ranks cases, so voxel maps must become one number per case. ``mean`` and ``sum``
grow with the case's size; ``fg_ratio`` (sum over the case / predicted foreground voxels) measures
the uncertain fraction of the predicted object, which tracks 1 - Dice better for small objects.
"""

from __future__ import annotations

import numpy as np

__all__ = ["aggregate", "AGGREGATIONS"]

AGGREGATIONS = ("mean", "sum", "max", "fg_ratio")


def aggregate(voxel: np.ndarray, *, how: str = "mean", foreground: np.ndarray | None = None) -> float:
    """Reduce one case's voxel uncertainty to a score.

    Args:
        voxel: the case's uncertainty map, any shape.
        how: one of ``AGGREGATIONS``.
        foreground: predicted foreground probability or mask (needed for ``fg_ratio``).

    Returns:
        The case score (``fg_ratio``: sum / (predicted foreground voxels + 1)).
    """
    v = np.asarray(voxel, dtype=np.float64)
    if how == "mean":
        return float(v.mean())
    if how == "sum":
        return float(v.sum())
    if how == "max":
        return float(v.max()) if v.size else 0.0
    if how == "fg_ratio":
        if foreground is None:
            raise ValueError("fg_ratio needs the predicted foreground")
        return float(v.sum() / (float((np.asarray(foreground) >= 0.5).sum()) + 1.0))
    raise ValueError(f"how must be one of {AGGREGATIONS}, got {how!r}")
