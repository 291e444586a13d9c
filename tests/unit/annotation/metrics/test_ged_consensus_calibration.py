from __future__ import annotations

import numpy as np
import pytest

from annotation.metrics.calibration import crps_volume, dice_excluding_dissensus, expected_calibration_error
from annotation.metrics.consensus import majority_vote, soft_consensus
from annotation.metrics.ged import ged, hungarian_iou, pairwise_iou_matrix
from annotation.metrics.overlap import iou
from tests.unit.annotation.metrics.conftest import make_rater_masks

X = np.array([[1, 1, 0, 0]], np.uint8)
Y = np.array([[0, 1, 1, 0]], np.uint8)
E = np.zeros((1, 4), np.uint8)


def test_pairwise_iou_matrix_matches_loop() -> None:
    a = make_rater_masks(3, seed=1)
    b = make_rater_masks(2, seed=2)
    m = pairwise_iou_matrix(a, b)
    for i in range(3):
        for j in range(2):
            assert m[i, j] == pytest.approx(iou(a[i], b[j]))
    assert pairwise_iou_matrix(np.stack([E, E]))[0, 1] == 1.0  # empty vs empty: d = 0


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([X], [X], 0.0),
        ([E], [E], 0.0),
        ([X], [Y], 2 * (1 - 1 / 3)),  # single masks: 2 d(x, y)
        ([X, Y], [X, Y], 0.0),
        # a = {x}, b = {x, y}: 2 * (0 + 2/3) / 2 - 0 - (2/3 * 2) / 4 = 2/3 - 1/3
        ([X], [X, Y], 1 / 3),
    ],
)
def test_ged_hand_computed(a, b, expected) -> None:
    assert ged(np.stack(a), np.stack(b)) == pytest.approx(expected)


def test_hungarian_iou() -> None:
    assert hungarian_iou(np.stack([X, Y]), np.stack([Y, X])) == pytest.approx(1.0)
    # 1 vs 2 members: replicate to 2 each; X matched with X (1) and with Y (1/3)
    assert hungarian_iou(np.stack([X]), np.stack([X, Y])) == pytest.approx((1 + 1 / 3) / 2)


@pytest.mark.parametrize(("tie", "expected"), [("lowest", [0, 0, 1]), ("highest", [1, 1, 1]), ("undecided", [2, 2, 1])])
def test_majority_vote_ties(tie, expected) -> None:
    m = np.array([[1, 0, 1], [0, 1, 1]], np.uint8)
    assert majority_vote(m, tie=tie).tolist() == expected


def test_majority_multilabel_and_soft() -> None:
    m = np.array([[1, 2, 0], [1, 2, 2], [2, 0, 2]])
    assert majority_vote(m).tolist() == [1, 2, 2]
    np.testing.assert_allclose(soft_consensus(np.array([[1, 0], [1, 1], [0, 0], [1, 0]])), [0.75, 0.25])


def test_dice_excluding_dissensus() -> None:
    raters = np.array([[1, 1, 1, 0, 0], [1, 1, 0, 0, 0]], np.uint8)
    # consensus fg = voxels 0,1; voxel 2 is dissensus and ignored
    assert dice_excluding_dissensus(np.array([1, 1, 1, 0, 0]), raters) == 1.0
    assert dice_excluding_dissensus(np.array([1, 0, 0, 1, 0]), raters) == pytest.approx(2 * 1 / (2 + 2))


def test_ece_hand_computed() -> None:
    prob = np.array([0.05, 0.05, 0.95, 0.95])
    assert expected_calibration_error(prob, np.array([0, 0, 1, 1])) == pytest.approx(0.05)
    # two bins: |0.5 - 0.05| * 2/4 + |1 - 0.95| * 2/4
    assert expected_calibration_error(prob, np.array([0, 1, 1, 1])) == pytest.approx(0.25)
    with pytest.raises(ValueError):
        expected_calibration_error(prob, prob[:2])


def test_crps_volume_hand_computed() -> None:
    raters = np.zeros((1, 1, 1, 10), np.uint8)
    raters[0, 0, 0, :4] = 1
    pred = np.zeros((1, 1, 10))
    pred[0, 0, :6] = 1.0  # certain prediction of 6 voxels, rater says 4: CRPS = |6 - 4| * voxel volume
    assert crps_volume(pred, raters, spacing=(2.0, 1.0, 1.0)) == pytest.approx(4.0, rel=1e-6)
    # half-certain voxels: Normal(mu, sigma) vs a point mass at mu -> sigma / sqrt(pi)
    pred2 = np.full((1, 1, 10), 0.5)
    raters2 = np.zeros((1, 1, 1, 10), np.uint8)
    raters2[0, 0, 0, :5] = 1
    sigma = np.sqrt(10 * 0.25)
    assert crps_volume(pred2, raters2, spacing=(1, 1, 1)) == pytest.approx(sigma * (np.sqrt(2) - 1) / np.sqrt(np.pi), rel=1e-3)
