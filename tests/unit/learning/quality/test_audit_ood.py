"""Bias audit on synthetic groups with and without a gap; OOD distances."""

from __future__ import annotations

import numpy as np
import pytest

from learning.quality import EnsembleOOD, FeatureOOD, bias_audit


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


@pytest.mark.parametrize("method", ["mahalanobis", "knn"])
def test_ensemble_ood_finds_a_shift_seen_in_one_level_only(method: str) -> None:
    """A shift in one of three feature levels is found; the training cases score about 0 (their own
    distances standardise each level, a kNN distance without the case itself)."""
    rng = np.random.default_rng(1)
    train = [rng.normal(0, 1, (150, d)) for d in (8, 16, 4)]
    ood = EnsembleOOD(n_components=4).fit(train)
    near = ood.score([rng.normal(0, 1, (60, d)) for d in (8, 16, 4)], method=method)
    shifted = [rng.normal(0, 1, (60, 8)), rng.normal(0, 1, (60, 16)) + 2.5, rng.normal(0, 1, (60, 4))]
    far = ood.score(shifted, method=method)
    assert abs(near.mean()) < 0.5 and far.mean() > near.mean() + 1.0
    with pytest.raises(ValueError, match="fitted on 3 feature levels, got 2"):
        ood.score(train[:2])
    with pytest.raises(ValueError, match="same N"):
        EnsembleOOD().fit([train[0], train[1][:10]])


def test_knn_training_scores_leave_the_case_itself_out() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, (40, 6))
    ood = FeatureOOD(n_components=6, k=1).fit(x)
    z = ood.transform(x)
    d = np.sqrt(((z[:, None] - z[None]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    np.testing.assert_allclose(ood.training_scores(method="knn"), d.min(1))
    assert np.all(ood.score(x, method="knn") == 0)


@pytest.mark.parametrize("n", [3, 5, 10])
@pytest.mark.parametrize("method", ["mahalanobis", "knn"])
def test_ensemble_ood_stays_finite_with_few_training_cases(method: str, n: int) -> None:
    """With few training cases their own Mahalanobis distances are all alike (sd ~ 0); the scale floor
    keeps scores modest, and a far case still scores above a near one."""
    rng = np.random.default_rng(3)
    train = [rng.normal(0, 1, (n, 12)), rng.normal(0, 1, (n, 6))]
    ood = EnsembleOOD(n_components=8).fit(train)
    near = ood.score([rng.normal(0, 1, (20, 12)), rng.normal(0, 1, (20, 6))], method=method)
    far = ood.score([rng.normal(4, 1, (20, 12)), rng.normal(4, 1, (20, 6))], method=method)
    assert np.all(np.isfinite(near)) and np.abs(near).max() < 100
    assert far.mean() > near.mean()
