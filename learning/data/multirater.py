"""Multi-rater training items: images with every rater's mask, as 2D slices or 3D patches.

Why: PULASki learns the raters' disagreement, so each item carries N masks (N = raters per item; a
case outlined by fewer raters cycles through its own, as the LIDC papers do). Slices are padded to
one in-plane size (``learning.data.slices``); patches to the patch size. Pure arrays in and out.
"""

from __future__ import annotations

import numpy as np

from learning.data.dataset import _axis_window
from learning.data.slices import pad_in_plane

__all__ = ["training_slices", "training_patches", "MAX_SLICES", "PATCHES_PER_CASE"]

MAX_SLICES = 4000  # training items kept (random subset) so memory stays bounded on big projects
PATCHES_PER_CASE = 8  # 3D: foreground-centred patches per case (and as many anywhere)


def _window(image: np.ndarray, centre: np.ndarray, patch: tuple[int, ...], value: float) -> np.ndarray:
    """The ``patch``-sized window of ``image`` (leading axes kept) centred near ``centre``, kept inside
    the image where it fits and padded with ``value`` at the far ends where it does not."""
    bounds = [_axis_window(int(c), p, n) for c, p, n in zip(centre, patch, image.shape[-3:])]
    w = image[(..., *(slice(a, b) for a, b in bounds))]
    pad = [(0, 0)] * (w.ndim - 3) + [(0, p - n) for p, n in zip(patch, w.shape[-3:])]
    return np.pad(w, pad, constant_values=value)


def training_patches(images: list[np.ndarray], masks: list[np.ndarray], *, patch: tuple[int, int, int],
                     n_raters: int, rng: np.random.Generator, per_case: int = PATCHES_PER_CASE,
                     max_patches: int = MAX_SLICES) -> tuple[np.ndarray, np.ndarray]:
    """3D training patches of several cases.

    Args:
        images: per case ``(Z, Y, X)`` normalised float32 images.
        masks: per case ``(R, Z, Y, X)`` uint8 rater masks (R may differ between cases).
        patch: ``(z, y, x)`` patch size; a smaller case is padded (image with its minimum, masks with 0).
        n_raters: raters per item; a case that fewer raters labelled cycles through them (an empty
            submission is a mask, one of the R).
        rng: patch centres and the subset kept.
        per_case: patches centred on a random voxel of any rater's foreground (none if the raters left
            the case empty), and as many centred anywhere (one for an empty case).
        max_patches: cap on the number of patches.

    Returns:
        ``(P, 1, *patch)`` float32 images and ``(P, n_raters, *patch)`` uint8 masks.
    """
    # centres first (the same draws as cutting case by case), the cap on centres, then the windows:
    # cutting every patch before the cap would hold gigabytes on a big project
    centres: list[tuple[int, np.ndarray]] = []
    for j, (image, m) in enumerate(zip(images, masks, strict=True)):
        fg = np.argwhere(m.any(axis=0))
        on_fg = list(fg[rng.choice(len(fg), size=per_case)]) if len(fg) else []
        centres += [(j, c) for c in on_fg]
        centres += [(j, rng.integers(0, image.shape)) for _ in range(max(1, len(on_fg)))]
    if len(centres) > max_patches:
        centres = [centres[i] for i in np.sort(rng.choice(len(centres), size=max_patches, replace=False))]
    xs, ys = [], []
    for j, c in centres:
        image, m = images[j], masks[j]
        xs.append(_window(image, c, patch, float(image.min()))[None])
        ys.append(_window(m[np.arange(n_raters) % m.shape[0]], c, patch, 0))
    return np.stack(xs).astype(np.float32), np.stack(ys).astype(np.uint8)


def training_slices(images: list[np.ndarray], masks: list[np.ndarray], *, hw: tuple[int, int], n_raters: int,
                    rng: np.random.Generator, max_slices: int = MAX_SLICES) -> tuple[np.ndarray, np.ndarray]:
    """Axial training slices of several cases.

    Args:
        images: per case ``(Z, Y, X)`` normalised float32 images.
        masks: per case ``(R, Z, Y, X)`` uint8 rater masks (R may differ between cases).
        hw: common in-plane size (>= every case's).
        n_raters: raters per item; a case that fewer raters labelled cycles through them. A rater who
            found nothing submitted an empty mask, which is one of the R (the LIDC papers' convention).
        rng: which background slices and which subset are kept.
        max_slices: cap on the number of slices.

    Returns:
        ``(S, 1, H, W)`` float32 images and ``(S, n_raters, H, W)`` uint8 masks: every slice with any
        rater's foreground and as many random slices without.
    """
    xs, ys = [], []
    for image, m in zip(images, masks, strict=True):
        fg = m.any(axis=(0, 2, 3))
        pos = np.flatnonzero(fg)
        neg = np.flatnonzero(~fg)
        neg = rng.choice(neg, size=min(len(neg), max(1, len(pos))), replace=False) if len(neg) else neg
        zs = np.sort(np.concatenate([pos, neg]))
        stack = m[np.arange(n_raters) % m.shape[0]][:, zs].transpose(1, 0, 2, 3)  # (S, N, Y, X)
        xs.append(pad_in_plane(image[zs][:, None], hw, float(image.min())))
        ys.append(pad_in_plane(stack, hw, 0))
    x, y = np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.uint8)
    if len(x) > max_slices:
        keep = np.sort(rng.choice(len(x), size=max_slices, replace=False))
        x, y = x[keep], y[keep]
    return x, y
