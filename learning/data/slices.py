"""Axial slices of volumes of different in-plane sizes as one 2D batch.

Why: the 2D models trained from a project's cases (PULASki, the shape DAE) take a batch of slices of
one size, a multiple of the net's down-sampling divisor; cases differ in size. Padding is at the
far ends of the two in-plane axes, so ``[..., :h, :w]`` crops a result back.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["common_in_plane", "pad_in_plane"]


def common_in_plane(shapes: Sequence[Sequence[int]], divisor: int) -> tuple[int, int]:
    """The smallest ``(H, W)`` that holds every shape's last two axes, rounded up to ``divisor``."""
    h = max(int(s[-2]) for s in shapes)
    w = max(int(s[-1]) for s in shapes)
    return -(-h // divisor) * divisor, -(-w // divisor) * divisor


def pad_in_plane(a: np.ndarray, hw: tuple[int, int], value: float = 0.0) -> np.ndarray:
    """Pad the last two axes of ``a`` at their ends to ``hw`` with ``value``."""
    if a.shape[-2] > hw[0] or a.shape[-1] > hw[1]:
        raise ValueError(f"in-plane size {a.shape[-2:]} exceeds {hw}")
    pads = [(0, 0)] * (a.ndim - 2) + [(0, hw[0] - a.shape[-2]), (0, hw[1] - a.shape[-1])]
    return np.pad(a, pads, constant_values=value)
