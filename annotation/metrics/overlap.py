"""Voxel-overlap agreement between two masks: Dice, IoU, volume difference, confusion counts.

Convention for empty masks: two empty masks agree perfectly (Dice = IoU = 1.0); one empty and one
non-empty mask give 0.0. This is the convention of MONAI's ``ignore_empty=False`` and of the
LIDC manifest's "pairs with one empty mask count as 0".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from annotation.metrics._inputs import as_pair, check_spacing

__all__ = [
    "ConfusionCounts",
    "VolumeDifference",
    "confusion_counts",
    "dice",
    "iou",
    "volume_difference",
    "per_label",
    "dice_from_counts",
    "iou_from_counts",
]


@dataclass(frozen=True)
class ConfusionCounts:
    """Voxel counts of ``a`` (prediction / rater 1) against ``b`` (reference / rater 2)."""

    tp: int
    fp: int
    fn: int
    tn: int


@dataclass(frozen=True)
class VolumeDifference:
    """Signed volume difference ``vol(a) - vol(b)`` in mm^3 and relative to ``vol(b)``."""

    volume_a_mm3: float
    volume_b_mm3: float
    difference_mm3: float
    relative: float  # (vol a - vol b) / vol b; 0.0 when both empty, inf when only b is empty


def confusion_counts(a: np.ndarray, b: np.ndarray) -> ConfusionCounts:
    """Count TP/FP/FN/TN voxels of ``a`` against ``b``.

    Args:
        a, b: masks of equal shape, bool or integer (nonzero = foreground).
    Returns:
        ConfusionCounts with int voxel counts.
    Raises:
        ValueError: shapes differ.
    """
    a, b = as_pair(a, b)
    na = int(np.count_nonzero(a))
    nb = int(np.count_nonzero(b))
    tp = int(np.count_nonzero(a & b))
    return ConfusionCounts(tp=tp, fp=na - tp, fn=nb - tp, tn=a.size - na - nb + tp)


def dice_from_counts(intersection: float, size_a: float, size_b: float) -> float:
    """Dice from voxel counts; 1.0 when both sets are empty."""
    denom = size_a + size_b
    return 1.0 if denom == 0 else 2.0 * intersection / denom


def iou_from_counts(intersection: float, size_a: float, size_b: float) -> float:
    """IoU (Jaccard) from voxel counts; 1.0 when both sets are empty."""
    union = size_a + size_b - intersection
    return 1.0 if union == 0 else intersection / union


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice similarity coefficient 2|A∩B| / (|A|+|B|) of two masks.

    Args:
        a, b: masks of equal shape, bool or integer (nonzero = foreground).
    Returns:
        Dice in [0, 1]; 1.0 when both masks are empty, 0.0 when exactly one is.
    Raises:
        ValueError: shapes differ.
    """
    a, b = as_pair(a, b)
    return dice_from_counts(np.count_nonzero(a & b), np.count_nonzero(a), np.count_nonzero(b))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union (Jaccard index) |A∩B| / |A∪B|; 1.0 when both masks are empty.

    Args:
        a, b: masks of equal shape, bool or integer (nonzero = foreground).
    Returns:
        IoU in [0, 1].
    Raises:
        ValueError: shapes differ.
    """
    a, b = as_pair(a, b)
    return iou_from_counts(np.count_nonzero(a & b), np.count_nonzero(a), np.count_nonzero(b))


def volume_difference(a: np.ndarray, b: np.ndarray, *, spacing: Sequence[float]) -> VolumeDifference:
    """Signed volume difference of ``a`` relative to the reference ``b``, in mm^3.

    Args:
        a, b: masks of equal shape ``(Z, Y, X)``.
        spacing: voxel size per array axis in mm, ``(z, y, x)``.
    Returns:
        VolumeDifference (absolute mm^3 and relative to ``vol(b)``).
    Raises:
        ValueError: shapes differ or spacing does not match the number of axes.
    """
    a, b = as_pair(a, b)
    voxel = float(np.prod(check_spacing(spacing, a.ndim)))
    va = np.count_nonzero(a) * voxel
    vb = np.count_nonzero(b) * voxel
    diff = va - vb
    rel = 0.0 if diff == 0 else (float("inf") if vb == 0 else diff / vb)
    return VolumeDifference(volume_a_mm3=va, volume_b_mm3=vb, difference_mm3=diff, relative=rel)


def per_label(
    fn: Callable[[np.ndarray, np.ndarray], float],
    a: np.ndarray,
    b: np.ndarray,
    labels: Iterable[int],
) -> dict[int, float]:
    """Apply a binary metric to each label of two label maps.

    Args:
        fn: binary metric, e.g. ``dice`` or ``functools.partial(hd95, spacing=sp)``.
        a, b: integer label maps of equal shape.
        labels: label values to evaluate (background 0 is usually left out).
    Returns:
        ``{label: fn(a == label, b == label)}``.
    Raises:
        ValueError: shapes differ.
    """
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"label maps differ in shape: {a.shape} vs {b.shape}")
    return {int(lab): float(fn(a == lab, b == lab)) for lab in labels}
