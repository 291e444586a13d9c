"""Acquisition: normalisation, combination, k-center spread, select_batch strategies."""

from __future__ import annotations

import numpy as np
import pytest

from learning.acquisition import cold_start, combine, k_center_greedy, normalise, select_batch


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
