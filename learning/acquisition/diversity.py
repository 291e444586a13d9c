"""Batch diversity: k-center greedy (Sener & Savarese 2018, core-set), TypiClust (Hacohen et al. 2022) and
the cold start.

Why two: k-center covers the feature space by picking the point farthest from everything chosen, so
its first picks are the pool's outliers; that suits a model that already covers the typical cases.
With no labels at all (a low budget), typical cases teach more: TypiClust picks the most typical
case of each of the largest clusters not yet covered."""

from __future__ import annotations

import numpy as np

__all__ = ["COLD_START_METHODS", "k_center_greedy", "typiclust", "cold_start"]

COLD_START_METHODS = ("typiclust", "kcenter", "random")


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


def typicality(features: np.ndarray, k: int = 20) -> np.ndarray:
    """Inverse mean Euclidean distance of each row of ``features (n, F)`` to its ``k`` nearest other rows.

    Returns ``(n,)`` float64; a single row gets typicality 0 (nothing to be typical of).
    """
    x = np.asarray(features, dtype=np.float64)
    n = len(x)
    k = min(int(k), n - 1)
    if k < 1:
        return np.zeros(n)
    sq = (x * x).sum(1)
    d = np.sqrt(np.maximum(sq[:, None] + sq[None] - 2.0 * x @ x.T, 0.0))
    np.fill_diagonal(d, np.inf)
    knn = np.partition(d, k - 1, axis=1)[:, :k]
    return 1.0 / (knn.mean(1) + 1e-5)


def typiclust(
    features: np.ndarray,
    k: int,
    *,
    rng: np.random.Generator,
    labelled: np.ndarray | None = None,
    min_cluster_size: int = 5,
    neighbours: int = 20,
    max_clusters: int = 500,
) -> np.ndarray:
    """TypiClust (Hacohen, Dekel & Weinshall, ICML 2022): the most typical case of each large uncovered cluster.

    The pool (with the labelled cases, if given) is split by k-means into ``len(labelled) + k`` clusters
    (at most ``max_clusters``); clusters are visited from the fewest labelled members, then the largest,
    skipping those smaller than ``min_cluster_size`` unless nothing else is left; from each the case of
    highest ``typicality`` (within its cluster, ``neighbours`` nearest) is picked.

    Args:
        features: ``(n, F)`` candidate features (the unlabelled pool).
        k: how many to pick (capped at n).
        rng: seeds k-means.
        labelled: ``(m, F)`` features of cases already labelled (they count as covering their clusters).

    Returns:
        ``(k,)`` int64 distinct indices into ``features``, in pick order.
    """
    from sklearn.cluster import KMeans  # here: the web process imports this package for AcquisitionPolicy only

    x = np.asarray(features, dtype=np.float64)
    n = len(x)
    k = min(int(k), n)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    lab = np.zeros((0, x.shape[1])) if labelled is None else np.asarray(labelled, dtype=np.float64).reshape(-1, x.shape[1])
    both = np.concatenate([x, lab])
    n_clusters = max(1, min(len(lab) + k, max_clusters, len(both)))
    km = KMeans(n_clusters=n_clusters, n_init=4, random_state=int(rng.integers(0, 2**31 - 1))).fit(both)
    ids = km.labels_[:n]
    covered = np.bincount(km.labels_[n:], minlength=n_clusters)
    size = np.bincount(ids, minlength=n_clusters)
    big = [c for c in range(n_clusters) if size[c] >= min_cluster_size]
    small = [c for c in range(n_clusters) if 0 < size[c] < min_cluster_size]
    order = sorted(big, key=lambda c: (covered[c], -size[c])) + sorted(small, key=lambda c: (covered[c], -size[c]))
    typ = np.zeros(n)
    for c in order:
        members = np.flatnonzero(ids == c)
        typ[members] = typicality(x[members], neighbours)
    picks: list[int] = []
    taken = np.zeros(n, dtype=bool)
    i = 0
    while len(picks) < k:
        members = np.flatnonzero((ids == order[i % len(order)]) & ~taken)
        i += 1
        if len(members) == 0:
            continue
        best = int(members[np.argmax(typ[members])])
        picks.append(best)
        taken[best] = True
    return np.asarray(picks, dtype=np.int64)


def cold_start(
    n: int, batch: int, *, rng: np.random.Generator, features: np.ndarray | None = None, method: str = "typiclust"
) -> np.ndarray:
    """First batch with no labels: TypiClust (default) or k-center on cheap image features, or random.

    Args:
        n: pool size.
        batch: how many to pick.
        rng: randomness.
        features: ``(n, F)`` cheap image features (needed for ``"typiclust"`` and ``"kcenter"``).
        method: one of ``COLD_START_METHODS``.
    """
    if method == "random":
        return rng.choice(n, size=min(batch, n), replace=False).astype(np.int64)
    if method not in COLD_START_METHODS:
        raise ValueError(f"method must be one of {', '.join(COLD_START_METHODS)}; got {method!r}")
    if features is None:
        raise ValueError(f"{method} cold start needs features")
    if len(features) != n:
        raise ValueError(f"features has {len(features)} rows for a pool of {n}")
    if method == "typiclust":
        return typiclust(features, batch, rng=rng)
    return k_center_greedy(features, batch, rng=rng)
