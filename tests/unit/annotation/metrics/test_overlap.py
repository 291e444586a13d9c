from __future__ import annotations

import itertools

import numpy as np
import pytest

from annotation.metrics.overlap import confusion_counts, dice, iou, per_label, volume_difference
from tests.unit.annotation.metrics.conftest import to_sitk

A = np.array([[1, 1, 0, 0]], dtype=np.uint8)
B = np.array([[1, 0, 1, 0]], dtype=np.uint8)
Z = np.zeros((1, 4), dtype=np.uint8)


@pytest.mark.parametrize(
    ("a", "b", "d", "j"),
    [
        (A, B, 0.5, 1 / 3),
        (A, A, 1.0, 1.0),
        (Z, Z, 1.0, 1.0),  # empty vs empty: perfect agreement by convention
        (A, Z, 0.0, 0.0),
        (A.astype(bool), np.array([[1, 1, 1, 1]]), 2 * 2 / 6, 0.5),
    ],
)
def test_dice_iou_hand_computed(a, b, d, j) -> None:
    assert dice(a, b) == pytest.approx(d)
    assert iou(a, b) == pytest.approx(j)


def test_confusion_counts() -> None:
    c = confusion_counts(A, B)
    assert (c.tp, c.fp, c.fn, c.tn) == (1, 1, 1, 1)


def test_volume_difference_uses_spacing() -> None:
    v = volume_difference(A[None], Z[None] + np.array([[[1, 0, 0, 0]]], dtype=np.uint8), spacing=(2.0, 1.0, 0.5))
    assert v.volume_a_mm3 == pytest.approx(2.0)
    assert v.volume_b_mm3 == pytest.approx(1.0)
    assert v.difference_mm3 == pytest.approx(1.0)
    assert v.relative == pytest.approx(1.0)
    assert volume_difference(Z[None], Z[None], spacing=(1, 1, 1)).relative == 0.0


def test_per_label() -> None:
    a = np.array([[0, 1, 2, 2]])
    b = np.array([[0, 1, 2, 0]])
    assert per_label(dice, a, b, [1, 2]) == {1: 1.0, 2: pytest.approx(2 / 3)}


def test_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="shape"):
        dice(np.zeros((2, 3)), np.zeros((3, 2)))


@pytest.mark.realdata
def test_matches_sitk_label_overlap_on_lidc(lidc_cases) -> None:
    import SimpleITK as sitk

    for _, masks, spacing in lidc_cases:
        for i, j in itertools.combinations(range(4), 2):
            f = sitk.LabelOverlapMeasuresImageFilter()
            f.Execute(to_sitk(masks[i], spacing), to_sitk(masks[j], spacing))
            assert abs(dice(masks[i], masks[j]) - f.GetDiceCoefficient()) <= 1e-3
            assert abs(iou(masks[i], masks[j]) - f.GetJaccardCoefficient()) <= 1e-3
            # SimpleITK's volume similarity = 2 (|A| - |B|) / (|A| + |B|)
            v = volume_difference(masks[i], masks[j], spacing=spacing)
            vs = 2 * v.difference_mm3 / (v.volume_a_mm3 + v.volume_b_mm3)
            assert abs(vs - f.GetVolumeSimilarity()) <= 1e-3
