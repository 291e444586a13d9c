"""Intensity normalisation of patches and slabs, configured once and stored with the model.

CT: clip to a Hounsfield window and scale to [0, 1]. MRI: z-score, per patch in training; at inference
with statistics of the whole volume (``volume_stats``) so a volume read slab by slab is normalised
exactly as it would be in one piece.
"""

from __future__ import annotations

import numpy as np

from learning.configs import NormConfig
from learning.data.readers import VolumeReader

__all__ = ["NormConfig", "normalise", "volume_stats"]



def normalise(
    array: np.ndarray, config: NormConfig, *, stats: tuple[float, float] | None = None
) -> np.ndarray:
    """Apply ``config`` to ``array`` (any shape), returning float32.

    Args:
        array: raw voxels.
        config: the normalisation.
        stats: ``(mean, std)`` to use for ``"zscore"`` when the config has none (whole-volume stats).

    Returns:
        float32 array of the same shape.
    """
    x = np.asarray(array, dtype=np.float32)
    if config.mode == "window":
        lo, hi = config.window
        return ((np.clip(x, lo, hi) - lo) / (hi - lo)).astype(np.float32, copy=False)
    if config.mode == "scale":
        return (x * np.float32(config.scale) + np.float32(config.offset)).astype(np.float32, copy=False)
    if config.mode == "zscore":
        if config.mean is not None and config.std is not None:
            mean, std = config.mean, config.std
        elif stats is not None:
            mean, std = stats
        else:
            sel = x[x != 0] if config.nonzero else x
            mean = float(sel.mean()) if sel.size else 0.0
            std = float(sel.std()) if sel.size else 1.0
        return ((x - np.float32(mean)) / np.float32(max(std, 1e-8))).astype(np.float32, copy=False)
    return x


def volume_stats(reader: VolumeReader, *, nonzero: bool = False, slab: int = 16) -> tuple[float, float]:
    """Mean and standard deviation of a whole volume, read slab by slab along Z (bounded memory).

    Args:
        reader: the volume.
        nonzero: count only non-zero voxels.
        slab: Z slices read at a time.

    Returns:
        ``(mean, std)`` in input units.
    """
    z, y, x = reader.shape
    n = 0
    total = 0.0
    total_sq = 0.0
    for z0 in range(0, z, slab):
        a = reader.read((slice(z0, min(z, z0 + slab)), slice(0, y), slice(0, x))).astype(np.float64)
        if nonzero:
            a = a[a != 0]
        n += a.size
        total += float(a.sum())
        total_sq += float(np.square(a).sum())
    if n == 0:
        return 0.0, 1.0
    mean = total / n
    return mean, float(np.sqrt(max(total_sq / n - mean * mean, 0.0)))
