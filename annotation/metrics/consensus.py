"""Simple consensus of rater masks: majority vote and the soft (mean) consensus.

Why: cheap references beside STAPLE; the soft consensus is the target of calibration metrics.
Both go through the vote-pattern histogram, so the per-voxel work is one code and one look-up.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from annotation.metrics._inputs import as_stack
from annotation.metrics.patterns import pattern_codes, vote_patterns

__all__ = ["majority_vote", "soft_consensus"]

Tie = Literal["lowest", "highest", "undecided"]


def majority_vote(masks: np.ndarray, *, tie: Tie = "lowest", n_classes: int | None = None) -> np.ndarray:
    """Label each voxel with the label most raters gave.

    Args:
        masks: (R, Z, Y, X) bool/uint8 binary masks or integer labels 0..L-1.
        tie: on a tie, ``"lowest"`` takes the smallest tied label (binary: background),
            ``"highest"`` the largest (binary: foreground), ``"undecided"`` the label L
            (as ITK's ``LabelVotingImageFilter``).
        n_classes: L; default max label + 1.
    Returns:
        (Z, Y, X) uint8 labels.
    Raises:
        ValueError: bad stack or unknown ``tie``.
    """
    if tie not in ("lowest", "highest", "undecided"):
        raise ValueError(f"tie must be 'lowest', 'highest' or 'undecided', got {tie!r}")
    stack = as_stack(masks)
    vp = vote_patterns(stack, n_classes=n_classes, use_dask=False)
    votes = vp.per_voxel_counts()  # (P, L)
    top = votes.max(axis=1, keepdims=True)
    is_top = votes == top
    if tie == "lowest":
        label = is_top.argmax(axis=1)
    else:
        label = votes.shape[1] - 1 - is_top[:, ::-1].argmax(axis=1)
        if tie == "undecided":
            label = np.where(is_top.sum(axis=1) > 1, votes.shape[1], label)
    lut = np.zeros(int(vp.codes.max(initial=0)) + 1, dtype=np.uint8)
    lut[vp.codes] = label
    src = stack if vp.n_classes > 2 else stack != 0 if stack.dtype != np.bool_ else stack
    return lut[pattern_codes(src, vp.n_classes)]


def soft_consensus(masks: np.ndarray) -> np.ndarray:
    """Fraction of raters marking each voxel as foreground.

    Args:
        masks: (R, Z, Y, X) bool/uint8 (nonzero = foreground).
    Returns:
        (Z, Y, X) float32 in [0, 1].
    """
    stack = as_stack(masks)
    acc = np.zeros(stack.shape[1:], dtype=np.uint16 if stack.shape[0] < 65535 else np.uint32)
    for m in stack:
        acc += m != 0
    return (acc / np.float32(stack.shape[0])).astype(np.float32)
