"""Batch diversity: k-center greedy (Sener & Savarese 2018, core-set) and cold start."""

from __future__ import annotations

import numpy as np

__all__ = ["k_center_greedy", "cold_start"]


def k_center_greedy(
    features: np.ndarray,
    k: int,
    *,
    rng: np.random.Generator,
    centers: np.ndarray | None = None,
) -> np.ndarray:
    """Pick ``k`` rows of ``features`` greedily, each the farthest from all chosen points so far.

    Args:
        features: ``(n, F)`` candidate features.
        k: how many to pick (capped at n).
        rng: picks the first point when there are no ``centers``.
        centers: ``(m, F)`` features already covered (e.g. the labelled cases).

    Returns:
        ``(k,)`` int64 indices into ``features``, in pick order.
    """
    x = np.asarray(features, dtype=np.float64)
    n = x.shape[0]
    k = min(int(k), n)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if centers is not None and len(centers):
        c = np.asarray(centers, dtype=np.float64)
        dmin = np.sqrt(((x[:, None, :] - c[None]) ** 2).sum(-1)).min(1)
        picks: list[int] = []
    else:
        first = int(rng.integers(0, n))
        picks = [first]
        dmin = np.sqrt(((x - x[first]) ** 2).sum(-1))
    while len(picks) < k:
        nxt = int(np.argmax(dmin))
        picks.append(nxt)
        dmin = np.minimum(dmin, np.sqrt(((x - x[nxt]) ** 2).sum(-1)))
    return np.asarray(picks, dtype=np.int64)


def cold_start(
    n: int, batch: int, *, rng: np.random.Generator, features: np.ndarray | None = None, method: str = "kcenter"
) -> np.ndarray:
    """First batch with no labels: k-center on cheap image features, or random.

    Args:
        n: pool size.
        batch: how many to pick.
        rng: randomness.
        features: ``(n, F)`` cheap image features (needed for ``"kcenter"``).
        method: ``"kcenter"`` or ``"random"``.
    """
    if method == "random":
        return rng.choice(n, size=min(batch, n), replace=False).astype(np.int64)
    if method == "kcenter":
        if features is None:
            raise ValueError("kcenter cold start needs features")
        return k_center_greedy(features, batch, rng=rng)
    raise ValueError(f"method must be 'kcenter' or 'random', got {method!r}")
