"""Choose the next batch of cases to send to raters."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from learning.acquisition.combine import combine
from learning.acquisition.diversity import k_center_greedy, typiclust

__all__ = ["STRATEGIES", "select_batch"]

STRATEGIES = ("random", "uncertainty", "diversity", "uncertainty_diversity", "typical")


def select_batch(
    scores: Mapping[str, np.ndarray],
    features: np.ndarray | None,
    *,
    batch: int,
    strategy: str,
    weights: Mapping[str, float] | None = None,
    rng: np.random.Generator,
    labelled_features: np.ndarray | None = None,
    combine_method: str = "weighted",
    pool_factor: int = 3,
) -> np.ndarray:
    """Indices (into the unlabelled pool) of the next batch.

    Args:
        scores: name -> ``(n,)`` per-case scores for the pool (higher = more worth labelling); may be
            empty for ``random`` and ``diversity``.
        features: ``(n, F)`` pool features (bottleneck or image features) for the diversity strategies.
        batch: batch size (capped at n).
        strategy: ``"random"``; ``"uncertainty"`` (top combined score); ``"diversity"`` (k-center greedy
            from the labelled cases); ``"uncertainty_diversity"`` (the ``pool_factor * batch`` top-scored
            cases, then k-center greedy among them); ``"typical"`` (TypiClust: the most typical case of each
            of the largest clusters not yet covered by the labelled cases; no scores: for low budgets).
        weights: per-score weights for ``combine``.
        rng: all randomness (ties are broken by a random permutation).
        labelled_features: ``(m, F)`` features of cases already labelled (k-center centres; TypiClust's
            covered clusters).
        combine_method: ``"weighted"`` or ``"borda"``.
        pool_factor: candidate pool multiple for ``uncertainty_diversity``.

    Returns:
        ``(batch,)`` int64 distinct indices.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    n = len(features) if features is not None else len(next(iter(scores.values()))) if scores else 0
    batch = min(int(batch), n)
    if batch <= 0:
        return np.zeros(0, dtype=np.int64)
    if strategy == "random":
        return rng.choice(n, size=batch, replace=False).astype(np.int64)
    if strategy == "diversity":
        if features is None:
            raise ValueError("diversity needs features")
        return k_center_greedy(features, batch, rng=rng, centers=labelled_features)
    if strategy == "typical":
        if features is None:
            raise ValueError("typical needs features")
        return typiclust(features, batch, rng=rng, labelled=labelled_features)
    total = combine(scores, weights=weights, method=combine_method)
    perm = rng.permutation(n)
    order = perm[np.argsort(-total[perm], kind="stable")]
    if strategy == "uncertainty":
        return order[:batch].astype(np.int64)
    if features is None:
        raise ValueError("uncertainty_diversity needs features")
    cand = order[: min(n, pool_factor * batch)]
    picks = k_center_greedy(np.asarray(features)[cand], batch, rng=rng, centers=labelled_features)
    return cand[picks].astype(np.int64)
