"""Bias audit on synthetic groups with and without a gap; OOD distances."""

from __future__ import annotations

import numpy as np
import pytest

from learning.quality import FeatureOOD, bias_audit


def test_audit_detects_known_bias() -> None:
    rng = np.random.default_rng(0)
    n = 120
    group = np.array(["contrast", "none"] * (n // 2))
    true = np.where(group == "contrast", 0.80, 0.65) + rng.normal(0, 0.08, n)
    est = true + rng.normal(0, 0.03, n)
    res = bias_audit(est, {"contrast": group}, rng=np.random.default_rng(1), true_dice=true, n_boot=500, n_perm=500)
    (c,) = res.comparisons
    assert c.group_a == "contrast" and c.group_b == "none"
    assert c.ci_low <= 0.15 <= c.ci_high
    assert c.p_value < 0.05
    assert c.true_delta is not None and c.true_delta > 0
    assert res.to_dict()["comparisons"][0]["attribute"] == "contrast"


def test_audit_no_bias_not_significant() -> None:
    rng = np.random.default_rng(2)
    group = np.array(["a", "b"] * 50)
    est = 0.7 + rng.normal(0, 0.05, 100)
    (c,) = bias_audit(est, {"g": group}, rng=np.random.default_rng(3), n_boot=300, n_perm=500).comparisons
    assert c.p_value > 0.05
    assert c.ci_low <= 0.0 <= c.ci_high


def test_audit_many_groups_vs_rest() -> None:
    g = np.array(["x", "y", "z"] * 10)
    res = bias_audit(np.arange(30.0), {"site": g}, rng=np.random.default_rng(0), n_boot=50, n_perm=50)
    assert [c.group_b for c in res.comparisons] == ["rest"] * 3


@pytest.mark.parametrize("method", ["mahalanobis", "knn"])
def test_ood_shifted_features_score_higher(method: str) -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(0, 1, (200, 32))
    ood = FeatureOOD(n_components=8).fit(train)
    near = ood.score(rng.normal(0, 1, (50, 32)), method=method)
    far = ood.score(rng.normal(3, 1, (50, 32)), method=method)
    assert far.mean() > 2 * near.mean()
