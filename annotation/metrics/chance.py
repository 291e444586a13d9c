"""Chance-corrected agreement of many raters over voxels: Fleiss' kappa and Krippendorff's alpha.

Why: Dice ignores agreement expected by chance; kappa and alpha report agreement beyond it, for any
number of raters and labels. Every voxel is one rated item. Both are computed from the vote-pattern
histogram (``patterns.vote_patterns``), so the cost is one O(V) pass plus a few table operations.

Background dominates a medical volume and inflates chance agreement on it; pass ``roi=True`` to
restrict the items to the union of all raters' foreground dilated by ``roi_dilation`` voxels (face
connectivity). The default is the whole volume, which is the textbook definition.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from annotation.metrics._inputs import as_stack
from annotation.metrics.patterns import VotePatterns, vote_patterns

__all__ = [
    "fleiss_kappa",
    "krippendorff_alpha",
    "fleiss_kappa_from_patterns",
    "krippendorff_alpha_from_patterns",
    "roi_stack",
]


def roi_stack(masks: np.ndarray, *, dilation: int = 2) -> np.ndarray:
    """Rater votes inside the region of interest, flattened to (R, N_roi).

    The ROI is the union of all raters' foreground, dilated by ``dilation`` voxels with face
    connectivity, computed on its bounding box (plus the dilation margin) only.
    """
    stack = as_stack(masks, min_raters=2)
    union = (stack != 0).any(axis=0)
    if not union.any():
        return stack.reshape(stack.shape[0], -1)[:, :0]
    idx = np.nonzero(union)
    box = tuple(
        slice(max(int(i.min()) - dilation, 0), min(int(i.max()) + dilation + 1, n))
        for i, n in zip(idx, union.shape)
    )
    roi = ndimage.binary_dilation(
        union[box], structure=ndimage.generate_binary_structure(union.ndim, 1), iterations=dilation
    ) if dilation > 0 else union[box]
    return stack[(slice(None), *box)][:, roi]


def _patterns(masks: np.ndarray, n_classes: int | None, roi: bool, roi_dilation: int) -> VotePatterns:
    if roi:
        flat = roi_stack(masks, dilation=roi_dilation)
        return vote_patterns(flat, n_classes=n_classes, use_dask=False)
    stack = as_stack(masks, min_raters=2)
    return vote_patterns(stack, n_classes=n_classes)


def fleiss_kappa_from_patterns(vp: VotePatterns) -> float:
    """Fleiss' kappa from a vote-pattern histogram (see ``fleiss_kappa``)."""
    n = vp.n_raters
    if n < 2:
        raise ValueError("Fleiss' kappa needs at least 2 raters")
    nij = vp.per_voxel_counts().astype(np.float64)  # (P, L)
    w = vp.counts.astype(np.float64)
    total = w.sum()
    if total == 0:
        return float("nan")
    p_i = ((nij**2).sum(axis=1) - n) / (n * (n - 1))
    p_bar = float((w * p_i).sum() / total)
    p_j = (w[:, None] * nij).sum(axis=0) / (total * n)
    p_e = float((p_j**2).sum())
    if p_e >= 1.0:
        return 1.0 if p_bar >= 1.0 else float("nan")
    return (p_bar - p_e) / (1.0 - p_e)


def fleiss_kappa(
    masks: np.ndarray,
    *,
    n_classes: int | None = None,
    roi: bool = False,
    roi_dilation: int = 2,
) -> float:
    """Fleiss' kappa over voxels for R raters and L labels.

    kappa = (P_bar - P_e) / (1 - P_e) with P_i = (sum_j n_ij^2 - R) / (R (R - 1)) per voxel and
    P_e = sum_j p_j^2 (Fleiss 1971).

    Args:
        masks: (R, Z, Y, X) bool/uint8 masks or integer labels 0..L-1; R >= 2.
        n_classes: L; default max label + 1.
        roi: restrict to the dilated union of the raters' foreground (see module docstring).
        roi_dilation: dilation in voxels for the ROI.
    Returns:
        kappa (1.0 when every voxel has the same label from every rater; NaN with no voxels).
    Raises:
        ValueError: fewer than 2 raters or shape problems.
    """
    return fleiss_kappa_from_patterns(_patterns(masks, n_classes, roi, roi_dilation))


def krippendorff_alpha_from_patterns(vp: VotePatterns) -> float:
    """Krippendorff's alpha (nominal) from a vote-pattern histogram (see ``krippendorff_alpha``)."""
    m = vp.n_raters
    if m < 2:
        raise ValueError("Krippendorff's alpha needs at least 2 raters")
    nuc = vp.per_voxel_counts().astype(np.float64)  # (P, L)
    w = vp.counts.astype(np.float64)
    # coincidence matrix o_ck = sum_u (n_uc n_uk - delta_ck n_uc) / (m_u - 1), m_u = m (no missing votes)
    o = np.einsum("p,pc,pk->ck", w, nuc, nuc) - np.diag((w[:, None] * nuc).sum(axis=0))
    o /= m - 1
    n_c = o.sum(axis=1)
    n = n_c.sum()
    if n <= 1:
        return float("nan")
    observed = o.sum() - np.trace(o)
    expected = (n_c.sum() ** 2 - (n_c**2).sum()) / (n - 1)
    if expected == 0:
        return 1.0 if observed == 0 else float("nan")
    return float(1.0 - observed / expected)


def krippendorff_alpha(
    masks: np.ndarray,
    *,
    level: str = "nominal",
    n_classes: int | None = None,
    roi: bool = False,
    roi_dilation: int = 2,
) -> float:
    """Krippendorff's alpha over voxels, nominal level, no missing votes.

    alpha = 1 - D_o / D_e from the coincidence matrix o_ck (Krippendorff 2011, "Computing
    Krippendorff's alpha-reliability"): D_o = sum_{c!=k} o_ck / n, D_e = sum_{c!=k} n_c n_k / (n (n-1)).

    Args:
        masks: (R, Z, Y, X) bool/uint8 masks or integer labels; R >= 2.
        level: only ``"nominal"`` (labels are unordered categories).
        n_classes: L; default max label + 1.
        roi: restrict to the dilated union of the raters' foreground (see module docstring).
        roi_dilation: dilation in voxels for the ROI.
    Returns:
        alpha (1.0 when all votes are identical; NaN without items).
    Raises:
        ValueError: unsupported level, fewer than 2 raters, shape problems.
    """
    if level != "nominal":
        raise ValueError(f"only level='nominal' is supported for label maps, got {level!r}")
    return krippendorff_alpha_from_patterns(_patterns(masks, n_classes, roi, roi_dilation))
