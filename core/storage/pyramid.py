"""Pyramid planning and downsampling for image volumes (pure numpy).

Isotropic-aware: an axis is halved only while its spacing is within 1.5x of the finest current
spacing, so a thick-slice CT (0.7 x 0.7 x 5 mm) is first downsampled in-plane and z joins once
the in-plane spacing has caught up. A coarse level lets a viewer show something at once.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plan_factors", "downsample_mean"]


def plan_factors(
    shape: tuple[int, int, int],
    spacing_zyx: tuple[float, float, float],
    *,
    levels: int | None = None,
    min_size: int = 32,
) -> list[tuple[int, int, int]]:
    """Cumulative (z, y, x) downsampling factor of each level; level 0 is (1, 1, 1).

    Args:
        shape: level-0 shape (Z, Y, X).
        spacing_zyx: level-0 spacing in mm.
        levels: exact number of levels wanted (capped by ``min_size``); None = as many as fit.
        min_size: stop before an in-plane dimension drops below this; z just stops halving there.
    """
    factors = [(1, 1, 1)]
    cur_shape = list(shape)
    cur_sp = list(spacing_zyx)
    limit = levels if levels is not None else 64
    while len(factors) < limit:
        finest = min(cur_sp)
        want = [cur_sp[a] < 1.5 * finest for a in range(3)]
        halved = [-(-n // 2) for n in cur_shape]
        if not (want[1] or want[2]) or any(want[a] and halved[a] < min_size for a in (1, 2)):
            break  # in-plane would drop below min_size (or cannot shrink): stop
        step = [2 if want[0] and halved[0] >= min_size else 1, 2 if want[1] else 1, 2 if want[2] else 1]
        cur_shape = [-(-n // s) for n, s in zip(cur_shape, step)]
        cur_sp = [sp * s for sp, s in zip(cur_sp, step)]
        prev = factors[-1]
        factors.append((prev[0] * step[0], prev[1] * step[1], prev[2] * step[2]))
    return factors


def downsample_mean(block: np.ndarray, step: tuple[int, int, int]) -> np.ndarray:
    """Mean over non-overlapping ``step`` blocks of a (Z, Y, X) array, edge-padded to a multiple.

    Returns the input dtype (integers rounded), shape ceil(n / step) per axis.
    """
    if step == (1, 1, 1):
        return block
    pad = [(0, (-n) % s) for n, s in zip(block.shape, step)]
    if any(p[1] for p in pad):
        block = np.pad(block, pad, mode="edge")
    z, y, x = block.shape
    sz, sy, sx = step
    work = block.astype(np.float32, copy=False).reshape(z // sz, sz, y // sy, sy, x // sx, sx)
    out = work.mean(axis=(1, 3, 5))
    if np.issubdtype(block.dtype, np.integer):
        info = np.iinfo(block.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(block.dtype)
