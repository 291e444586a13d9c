"""One agreement report per case: everything a project manager reads about how the raters agree.

Why: the dashboard, the adjudication threshold and the STAPLE training target all need the same
numbers; computing them in one place from one pass over the voxels keeps them consistent and fast.

How: one scan finds the bounding box of the raters' union (``patterns.foreground_box``); outside it
every voxel is background for every rater. One vote-pattern histogram of the box plus that
remainder (``patterns.vote_patterns``; chunk-wise through dask.array along Z for boxes above
``patterns.DASK_VOXELS`` voxels) gives volumes, pairwise intersections, kappa, alpha and the
STAPLE fit; surface distances run per structure on the same box
(``distance.surface_distance_matrices``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from annotation.metrics._inputs import as_stack, check_spacing
from annotation.metrics.chance import fleiss_kappa_from_patterns, krippendorff_alpha_from_patterns
from annotation.metrics.distance import surface_distance_matrices
from annotation.metrics.patterns import DASK_VOXELS, VotePatterns, foreground_box, vote_patterns
from annotation.metrics.staple import staple_fit

__all__ = ["StructureAgreement", "AgreementReport", "agreement_report", "pairwise_overlap"]


@dataclass(frozen=True)
class StructureAgreement:
    """Agreement of R raters on one structure (label). Matrices are (R, R), vectors (R,).

    Attributes:
        dice, iou: pairwise overlap (1.0 on the diagonal; 1.0 for two empty masks).
        hd95_mm, assd_mm, hausdorff_mm: pairwise surface distances in mm (inf when one mask is empty).
        volume_mm3: each rater's volume; volume_difference_mm3[i, j] = vol_i - vol_j.
        fleiss_kappa, krippendorff_alpha: chance-corrected agreement over all voxels (one-vs-rest).
        ged_raters: mean pairwise distance 1 - IoU over rater pairs (GED's within-set term).
        staple_sensitivity, staple_specificity: per rater, binary STAPLE on this structure.
        mean_pairwise_dice: mean Dice over rater pairs: the case agreement for this structure.
    """

    label: int
    dice: np.ndarray
    iou: np.ndarray
    hd95_mm: np.ndarray
    assd_mm: np.ndarray
    hausdorff_mm: np.ndarray
    volume_mm3: np.ndarray
    volume_difference_mm3: np.ndarray
    fleiss_kappa: float
    krippendorff_alpha: float
    ged_raters: float
    staple_sensitivity: np.ndarray
    staple_specificity: np.ndarray
    mean_pairwise_dice: float


@dataclass(frozen=True)
class AgreementReport:
    """Agreement report of a case; ``to_dict`` gives JSON-ready values (inf -> None)."""

    shape: tuple[int, ...]
    spacing: tuple[float, ...]
    rater_names: list[str]
    structures: dict[int, StructureAgreement]
    case_agreement: float  # mean over structures of the mean pairwise Dice
    fleiss_kappa_all_labels: float | None = None  # multi-label only
    krippendorff_alpha_all_labels: float | None = None
    used_dask: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def clean(v: Any) -> Any:
            if isinstance(v, np.ndarray):
                return clean(v.tolist())
            if isinstance(v, dict):
                return {str(k): clean(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [clean(x) for x in v]
            if isinstance(v, (float, np.floating)):
                f = float(v)
                return f if np.isfinite(f) else None
            if isinstance(v, np.integer):
                return int(v)
            return v

        return clean(asdict(self))


def pairwise_overlap(vp: VotePatterns) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Voxel counts per rater and pairwise intersections from a binary vote-pattern histogram.

    Returns:
        ``(sizes (R,), intersections (R, R), union (R, R))`` as float64 voxel counts.
    """
    t = (vp.table != 0).astype(np.float64)
    w = vp.counts.astype(np.float64)
    inter = (t * w[:, None]).T @ t
    sizes = np.diag(inter).copy()
    union = sizes[:, None] + sizes[None, :] - inter
    return sizes, inter, union


def _structure(
    label: int, vp: VotePatterns, stack_bin: np.ndarray, spacing: tuple[float, ...], voxel_mm3: float
) -> StructureAgreement:
    r = vp.n_raters
    sizes, inter, union = pairwise_overlap(vp)
    denom = sizes[:, None] + sizes[None, :]
    dice = np.divide(2 * inter, denom, out=np.ones_like(inter), where=denom > 0)
    iou = np.divide(inter, union, out=np.ones_like(inter), where=union > 0)
    vol = sizes * voxel_mm3
    dist = surface_distance_matrices(stack_bin, spacing=spacing)
    iu = np.triu_indices(r, 1)
    fit = staple_fit(vp)
    return StructureAgreement(
        label=label,
        dice=dice,
        iou=iou,
        hd95_mm=dist.hd95,
        assd_mm=dist.assd,
        hausdorff_mm=dist.hausdorff,
        volume_mm3=vol,
        volume_difference_mm3=vol[:, None] - vol[None, :],
        fleiss_kappa=fleiss_kappa_from_patterns(vp),
        krippendorff_alpha=krippendorff_alpha_from_patterns(vp),
        ged_raters=float((1.0 - iou[iu]).mean()),
        staple_sensitivity=fit.sensitivity,
        staple_specificity=fit.specificity,
        mean_pairwise_dice=float(dice[iu].mean()),
    )


def agreement_report(
    masks: np.ndarray,
    *,
    spacing: Sequence[float],
    labels: Sequence[int] | None = None,
    rater_names: Sequence[str] | None = None,
    use_dask: bool | None = None,
) -> AgreementReport:
    """Measure how R raters agree on each structure of a case.

    Args:
        masks: (R, Z, Y, X) bool/uint8 binary masks or integer label maps; R >= 2.
        spacing: voxel size in mm, ``(z, y, x)``.
        labels: structures to report; default every nonzero label present (binary: ``[1]``).
        rater_names: R names; default ``rater-1`` .. ``rater-R``.
        use_dask: count voxels chunk-wise along Z with dask.array; default when the bounding box
            of the raters' union holds more than ``patterns.DASK_VOXELS`` voxels.
    Returns:
        AgreementReport.
    Raises:
        ValueError: fewer than 2 raters, bad spacing, wrong number of names.
    """
    stack = as_stack(masks, min_raters=2)
    r = stack.shape[0]
    sp = check_spacing(spacing, stack.ndim - 1)
    names = [f"rater-{k + 1}" for k in range(r)] if rater_names is None else list(rater_names)
    if len(names) != r:
        raise ValueError(f"{len(names)} rater names for {r} raters")
    box = foreground_box(stack) if stack.size else None
    # the union's box (margin 1, so its faces are background as outside the volume is): distances
    # measured on it equal those on the whole volume
    crop = stack[(slice(None), *box)] if box is not None else stack
    n_box = int(np.prod(crop.shape[1:]))
    dask_used = bool(use_dask) if use_dask is not None else n_box > DASK_VOXELS
    vp = vote_patterns(stack, use_dask=dask_used, box=box)
    binary = vp.n_classes == 2
    if labels is None:
        present = np.unique(vp.table)
        labels = [int(v) for v in present if v != 0] or [1]
    voxel_mm3 = float(np.prod(sp))
    structures: dict[int, StructureAgreement] = {}
    for lab in labels:
        lab = int(lab)
        if binary and lab == 1:
            sub_vp, sub_stack = vp, crop
        else:
            sub_vp, sub_stack = vp.binary(lab), crop == lab
        structures[lab] = _structure(lab, sub_vp, sub_stack, sp, voxel_mm3)
    case = float(np.mean([s.mean_pairwise_dice for s in structures.values()]))
    return AgreementReport(
        shape=tuple(int(s) for s in stack.shape[1:]),
        spacing=sp,
        rater_names=names,
        structures=structures,
        case_agreement=case,
        fleiss_kappa_all_labels=None if binary else fleiss_kappa_from_patterns(vp),
        krippendorff_alpha_all_labels=None if binary else krippendorff_alpha_from_patterns(vp),
        used_dask=dask_used,
    )
