"""Acquisition: normalisation, combination, k-center spread, select_batch strategies."""

from __future__ import annotations

import numpy as np
import pytest

from learning.acquisition import cold_start, combine, k_center_greedy, normalise, select_batch, typiclust


def test_normalise() -> None:
    s = np.array([3.0, 1.0, 2.0])
    np.testing.assert_allclose(normalise(s, method="rank"), [1.0, 0.0, 0.5])
    np.testing.assert_allclose(normalise(s * 10, method="minmax"), [1.0, 0.0, 0.5])
    np.testing.assert_allclose(normalise(np.ones(3), method="minmax"), [0, 0, 0])


def test_combine_weighted_and_borda() -> None:
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([30.0, 20.0, 10.0])
    np.testing.assert_allclose(combine({"a": a, "b": b}, weights={"a": 1.0}), [0.0, 0.5, 1.0])
    np.testing.assert_allclose(combine({"a": a, "b": b}, method="borda"), [2.0, 2.0, 2.0])
    assert combine({"a": a, "b": b}, weights={"a": 2.0, "b": 1.0}, method="borda").argmax() == 2
    with pytest.raises(ValueError):
        combine({"a": a, "b": b[:2]})


def test_k_center_picks_spread_points() -> None:
    rng = np.random.default_rng(0)
    clusters = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], float)
    pts = np.concatenate([c + rng.normal(0, 0.1, (25, 2)) for c in clusters])
    picks = k_center_greedy(pts, 4, rng=np.random.default_rng(1))
    assert len(set(picks // 25)) == 4
    # with centres already covering two clusters, the next picks come from the other two
    picks = k_center_greedy(pts, 2, rng=np.random.default_rng(1), centers=clusters[:2])
    assert set(picks // 25) == {2, 3}


def test_select_batch_strategies() -> None:
    rng = np.random.default_rng(0)
    scores = {"u": np.arange(20.0)}
    feats = rng.normal(size=(20, 3))
    top = select_batch(scores, feats, batch=3, strategy="uncertainty", rng=rng)
    assert set(top) == {19, 18, 17}
    ud = select_batch(scores, feats, batch=3, strategy="uncertainty_diversity", rng=rng, pool_factor=2)
    assert set(ud) <= set(range(14, 20)) and len(set(ud)) == 3
    r = select_batch({}, feats, batch=5, strategy="random", rng=rng)
    assert len(set(r)) == 5
    d = select_batch({}, feats, batch=4, strategy="diversity", rng=rng)
    assert len(set(d)) == 4
    with pytest.raises(ValueError):
        select_batch(scores, feats, batch=3, strategy="nope", rng=rng)


def test_cold_start() -> None:
    feats = np.random.default_rng(0).normal(size=(30, 4))
    assert len(set(cold_start(30, 5, rng=np.random.default_rng(0), method="random"))) == 5
    assert len(set(cold_start(30, 5, rng=np.random.default_rng(0), features=feats))) == 5


def _blobs(sizes: list[int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs on a line, 20 apart, sd 1; returns (points, blob id per point)."""
    pts = np.concatenate([np.array([20.0 * i, 0.0]) + rng.normal(0, 1, (s, 2)) for i, s in enumerate(sizes)])
    return pts, np.repeat(np.arange(len(sizes)), sizes)


def test_typiclust_picks_the_typical_case_of_each_large_cluster() -> None:
    rng = np.random.default_rng(0)
    pts, blob = _blobs([40, 30, 20, 3], rng)
    picks = typiclust(pts, 3, rng=np.random.default_rng(1))
    # one per large blob, never from the 3-point blob, and each near its blob's centre (not an outlier)
    assert sorted(blob[picks]) == [0, 1, 2]
    for p in picks:
        centre = pts[blob == blob[p]].mean(0)
        spread = np.linalg.norm(pts[blob == blob[p]] - centre, axis=1)
        assert np.linalg.norm(pts[p] - centre) < np.quantile(spread, 0.25)
    # k-center's first picks after a random start are the farthest points: here the tiny far blob
    assert 3 in blob[k_center_greedy(pts, 3, rng=np.random.default_rng(1))]
    # blobs already covered by labelled cases come last
    again = typiclust(pts, 2, rng=np.random.default_rng(1), labelled=pts[blob == 0][:2])
    assert sorted(blob[again]) == [1, 2]


def test_typiclust_returns_distinct_indices_beyond_the_cluster_count() -> None:
    pts, _ = _blobs([6, 6], np.random.default_rng(2))
    picks = typiclust(pts, 12, rng=np.random.default_rng(0))
    assert sorted(picks) == list(range(12))
    assert len(typiclust(pts, 0, rng=np.random.default_rng(0))) == 0


def test_cold_start_methods_and_errors() -> None:
    pts, blob = _blobs([30, 30, 30], np.random.default_rng(3))
    assert sorted(blob[cold_start(90, 3, rng=np.random.default_rng(0), features=pts)]) == [0, 1, 2]
    with pytest.raises(ValueError, match="method must be one of"):
        cold_start(90, 3, rng=np.random.default_rng(0), features=pts, method="kmeans")
    with pytest.raises(ValueError, match="needs features"):
        cold_start(90, 3, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="rows for a pool of"):
        cold_start(80, 3, rng=np.random.default_rng(0), features=pts)


def test_select_batch_typical_skips_covered_clusters() -> None:
    pts, blob = _blobs([30, 30, 30], np.random.default_rng(4))
    pick = select_batch({}, pts, batch=2, strategy="typical", rng=np.random.default_rng(0),
                        labelled_features=pts[blob == 1][:3])
    assert sorted(blob[pick]) == [0, 2]
    with pytest.raises(ValueError, match="typical needs features"):
        select_batch({"u": np.arange(3.0)}, None, batch=2, strategy="typical", rng=np.random.default_rng(0))
