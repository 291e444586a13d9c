"""Calibration of a probabilistic prediction against several raters, as in the CURVAS challenge.

Why: a model that is uncertain where raters disagree is useful; these metrics say whether it is.
Definitions follow the CURVAS challenge (MICCAI 2024, "Calibration and Uncertainty for multiRater
Volume Assessment in multiorgan Segmentation"): Dice on the consensus region (dissensus
excluded), expected calibration error, and the CRPS of the predicted organ volume against the
raters' volumes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import erf

from annotation.metrics._inputs import as_mask, as_stack, check_spacing
from annotation.metrics.overlap import dice_from_counts

__all__ = ["dice_excluding_dissensus", "expected_calibration_error", "crps_volume"]


def dice_excluding_dissensus(pred_binary: np.ndarray, rater_masks: np.ndarray) -> float:
    """Dice of a binary prediction against the raters' consensus, outside the dissensus region.

    The consensus region holds the voxels where all raters agree (all foreground or all
    background); its label is that common label. Voxels where raters disagree are left out.

    Args:
        pred_binary: (Z, Y, X) bool/uint8 prediction.
        rater_masks: (R, Z, Y, X) bool/uint8 rater masks.
    Returns:
        Dice in [0, 1]; 1.0 when both prediction and consensus are empty on the region.
    Raises:
        ValueError: shapes differ.
    """
    pred = as_mask(pred_binary)
    stack = as_stack(rater_masks)
    if stack.shape[1:] != pred.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from rater masks {stack.shape[1:]}")
    n_fg = np.zeros(pred.shape, dtype=np.uint16)
    for m in stack:
        n_fg += m != 0
    all_fg = n_fg == stack.shape[0]
    agree = all_fg | (n_fg == 0)
    p = pred & agree
    return dice_from_counts(np.count_nonzero(p & all_fg), np.count_nonzero(p), np.count_nonzero(all_fg))


def expected_calibration_error(
    prob: np.ndarray,
    target: np.ndarray,
    *,
    n_bins: int = 10,
    mask: np.ndarray | None = None,
) -> float:
    """Expected calibration error over voxels with equal-width probability bins.

    ECE = sum_b (n_b / N) |mean(target in b) - mean(prob in b)| (Guo et al. 2017); the target
    may be binary or soft (e.g. ``consensus.soft_consensus``: the fraction of raters).

    Args:
        prob: (Z, Y, X) float predicted foreground probability in [0, 1].
        target: same shape, binary or soft in [0, 1].
        n_bins: number of bins on [0, 1]; the last bin includes 1.0.
        mask: optional bool region to evaluate (e.g. the organ's dilated union); default all voxels.
    Returns:
        ECE in [0, 1]; 0.0 with no voxels.
    Raises:
        ValueError: shapes differ, probabilities outside [0, 1], n_bins < 1.
    """
    p = np.asarray(prob, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if p.shape != t.shape:
        raise ValueError(f"prob shape {p.shape} differs from target shape {t.shape}")
    if n_bins < 1:
        raise ValueError("n_bins must be >= 1")
    if mask is not None:
        sel = as_mask(mask)
        if sel.shape != p.shape:
            raise ValueError(f"mask shape {sel.shape} differs from prob shape {p.shape}")
        p, t = p[sel], t[sel]
    p, t = p.ravel(), t.ravel()
    if p.size == 0:
        return 0.0
    if p.min() < 0 or p.max() > 1:
        raise ValueError("probabilities must lie in [0, 1]")
    idx = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    sp = np.bincount(idx, weights=p, minlength=n_bins)
    st = np.bincount(idx, weights=t, minlength=n_bins)
    return float(np.abs(st - sp).sum() / p.size)


def _normal_cdf(x: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    if sigma == 0:
        return (x >= mu).astype(np.float64)
    return 0.5 * (1.0 + erf((x - mu) / (sigma * np.sqrt(2.0))))


def crps_volume(
    pred_prob_map: np.ndarray,
    rater_masks: np.ndarray,
    *,
    spacing: Sequence[float],
    n_grid: int = 200_001,
) -> float:
    """CRPS of the predicted volume distribution against the empirical CDF of the raters' volumes.

    Choice made explicit: voxel probabilities are independent Bernoullis, so the predicted volume
    (mm^3) has mean mu = v sum p and variance sigma^2 = v^2 sum p (1 - p) (v = voxel volume); its
    distribution is taken as Normal(mu, sigma^2) (the Poisson-binomial's normal approximation,
    accurate for the thousands of voxels of an organ). The raters' volumes y_1..y_R give the
    empirical CDF G. CRPS = integral (F(x) - G(x))^2 dx, integrated numerically on a grid that
    covers mu +- 10 sigma and every y_r. With one rater this is the usual CRPS(F, y).

    Args:
        pred_prob_map: (Z, Y, X) float foreground probabilities in [0, 1].
        rater_masks: (R, Z, Y, X) bool/uint8 rater masks.
        spacing: voxel size in mm, ``(z, y, x)``.
        n_grid: integration points.
    Returns:
        CRPS in mm^3 (divide by 1000 for mL); 0 for a perfect, certain prediction.
    Raises:
        ValueError: shapes differ or spacing does not match.
    """
    p = np.asarray(pred_prob_map, dtype=np.float64)
    stack = as_stack(rater_masks)
    if stack.shape[1:] != p.shape:
        raise ValueError(f"probability map shape {p.shape} differs from rater masks {stack.shape[1:]}")
    v = float(np.prod(check_spacing(spacing, p.ndim)))
    mu = v * float(p.sum())
    sigma = v * float(np.sqrt((p * (1.0 - p)).sum()))
    y = np.sort(np.array([np.count_nonzero(m) * v for m in stack], dtype=np.float64))
    lo = min(mu - 10 * sigma, y[0]) - v
    hi = max(mu + 10 * sigma, y[-1]) + v
    x = np.union1d(np.linspace(lo, hi, n_grid), np.concatenate([y, [mu]]))
    g = np.searchsorted(y, x, side="right") / y.size
    f = _normal_cdf(x, mu, sigma)
    diff2 = (f - g) ** 2
    # left-Riemann sum on each interval: both CDFs are right-continuous steps or smooth
    return float(np.sum(diff2[:-1] * np.diff(x)))
