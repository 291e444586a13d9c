"""Turn several per-case scores into one ranking.

Why: scores live on different scales (entropy in nats, DAE deviation in voxels², GED in [0, 1]); they
are normalised (rank or min-max) before a weighted sum, or aggregated by Borda count.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.stats import rankdata

__all__ = ["normalise", "combine"]


def normalise(scores: np.ndarray, *, method: str = "rank") -> np.ndarray:
    """Map scores to [0, 1], higher = more worth labelling.

    Args:
        scores: ``(n,)`` raw scores (NaN counts as the lowest).
        method: ``"rank"`` (average ranks scaled to [0, 1]) or ``"minmax"``.
    """
    s = np.asarray(scores, dtype=np.float64)
    s = np.where(np.isnan(s), -np.inf, s)
    if s.size <= 1:
        return np.zeros_like(s)
    if method == "rank":
        return (rankdata(s, method="average") - 1) / (s.size - 1)
    if method == "minmax":
        finite = s[np.isfinite(s)]
        if finite.size == 0:
            return np.zeros_like(s)
        lo, hi = finite.min(), finite.max()
        s = np.where(np.isfinite(s), s, lo)
        return np.zeros_like(s) if hi == lo else (s - lo) / (hi - lo)
    raise ValueError(f"method must be 'rank' or 'minmax', got {method!r}")


def combine(
    scores: Mapping[str, np.ndarray],
    *,
    weights: Mapping[str, float] | None = None,
    method: str = "weighted",
    norm: str = "rank",
) -> np.ndarray:
    """One combined score per case (higher = acquire first).

    Args:
        scores: name -> ``(n,)`` scores, all the same length.
        weights: name -> weight (default 1 each; names missing from ``weights`` get 0).
        method: ``"weighted"`` (weighted sum of normalised scores) or ``"borda"`` (weighted Borda
            count: each score gives a case n - 1 - its position in that score's order).
        norm: normalisation for ``"weighted"`` (``"rank"`` or ``"minmax"``).

    Returns:
        ``(n,)`` float64 combined scores.
    """
    if not scores:
        raise ValueError("no scores to combine")
    lengths = {len(np.asarray(v)) for v in scores.values()}
    if len(lengths) != 1:
        raise ValueError(f"scores have different lengths: {lengths}")
    n = lengths.pop()
    w = {k: 1.0 for k in scores} if weights is None else {k: float(weights.get(k, 0.0)) for k in scores}
    total = np.zeros(n)
    for name, s in scores.items():
        if w[name] == 0.0:
            continue
        if method == "weighted":
            total += w[name] * normalise(s, method=norm)
        elif method == "borda":
            arr = np.where(np.isnan(np.asarray(s, dtype=np.float64)), -np.inf, np.asarray(s, dtype=np.float64))
            order = np.argsort(-arr, kind="stable")
            points = np.empty(n)
            points[order] = n - 1 - np.arange(n)
            total += w[name] * points
        else:
            raise ValueError(f"method must be 'weighted' or 'borda', got {method!r}")
    return total
