"""RCA on synthetic image/label pairs: a perfect prediction scores near 1, an empty one near 0."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from learning.quality.rca import image_features, rca_case_slices, rca_estimate, rca_predict


def make_pair(seed: int, size: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """A smooth image with a bright ellipse and its label, randomly shifted."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    cy, cx = size / 2 + rng.uniform(-4, 4, 2)
    ry, rx = rng.uniform(6, 10, 2)
    label = (((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1).astype(np.uint8)
    image = ndimage.gaussian_filter(label.astype(np.float32) * 200 + 20, 1.0) + rng.normal(0, 2, label.shape)
    return image.astype(np.float32), label


@pytest.fixture(scope="module")
def references():
    pairs = [make_pair(s) for s in range(8)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def test_perfect_prediction_scores_high(references) -> None:
    image, label = make_pair(100)
    r = rca_predict(image, label, *references, k=3)
    assert r.predicted_dice > 0.8
    assert r.dices.shape == (3,) and r.mean_dice <= r.predicted_dice == r.max_dice   # 3 references: the max


def test_empty_prediction_scores_zero(references) -> None:
    image, label = make_pair(101)
    r = rca_predict(image, np.zeros_like(label), *references, k=3)
    assert r.predicted_dice == pytest.approx(0.0)


def test_bad_prediction_scores_lower(references) -> None:
    image, label = make_pair(102)
    bad = np.roll(label, 12, axis=1)
    assert rca_predict(image, bad, *references, k=3).predicted_dice < rca_predict(image, label, *references, k=3).predicted_dice


def test_slices_wrapper(references) -> None:
    image, label = make_pair(103)
    vol, lab = np.stack([image, image]), np.stack([label, np.zeros_like(label)])
    assert rca_case_slices(vol, lab, *references, k=2) > 0.8
    assert rca_case_slices(vol, np.zeros_like(lab), *references, k=2) == 0.0


def test_image_features_shape() -> None:
    assert image_features(np.random.default_rng(0).random((30, 40))).shape == (64,)


def test_torch_side_imports_no_simpleitk():
    """Quality, simulation and uncertainty code imports SimpleITK only when it registers (torch-only GPU workers).

    (zarr is left out of the check: MONAI's ``inferers.merger`` imports it whenever it is installed.)
    """
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, learning.quality, learning.simulation, learning.uncertainty; "
        "sys.exit(any(m in sys.modules for m in ('SimpleITK', 'django')))"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[4]).returncode == 0


def test_area_weighted_and_middle_slice_features() -> None:
    from learning.quality.rca import area_weighted, middle_slice_features

    assert area_weighted([2.0, 1.0], [0.5, 0.2]) == pytest.approx(0.4)
    assert area_weighted([], []) == 0.0
    vol = np.zeros((5, 16, 16), np.float32)
    vol[2, 4:12, 4:12] = 1.0
    np.testing.assert_array_equal(middle_slice_features(vol), image_features(vol[2]))
    assert not np.array_equal(middle_slice_features(vol), image_features(vol[1]))


def test_bspline_carries_a_shape_that_affine_cannot() -> None:
    """A bent structure (one half shifted) is matched to a straight one: the deformable option, which
    refines the affine fit, must carry the straight mask over better than the affine map alone."""
    import SimpleITK as sitk

    from learning.quality.rca import register

    size = 64
    yy, xx = np.mgrid[:size, :size]
    straight = ((np.abs(yy - 32) < 5) & (np.abs(xx - 32) < 22)).astype(np.uint8)
    bent = straight.copy()
    bent[:, 32:] = np.roll(straight[:, 32:], 10, axis=0)   # right half moved down: a step no affine map makes

    def image(lab: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(lab.astype(np.float32) * 200 + 20, 1.5)

    def carried(transform: str) -> float:
        t = register(image(bent), image(straight), transform=transform, metric="mean_squares", iterations=200)
        warped = sitk.Resample(sitk.GetImageFromArray(straight), sitk.GetImageFromArray(bent), t,
                               sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
        from annotation.metrics.overlap import dice
        return dice(sitk.GetArrayFromImage(warped), bent)

    affine, bspline = carried("affine"), carried("bspline")
    assert bspline > affine + 0.1, (affine, bspline)
    with pytest.raises(ValueError, match="transform must be"):
        register(image(bent), image(straight), transform="demons")


def test_rca_estimate_is_a_robust_max() -> None:
    """Up to 20 references the estimate is the paper's max; beyond, the mean of the top 5%, so one lucky
    registration among many does not set it."""
    assert rca_estimate([0.1, 0.7, 0.3]) == 0.7
    d = np.r_[np.full(57, 0.2), 0.6, 0.7, 0.95]   # 60 values: top 3
    assert rca_estimate(d) == pytest.approx((0.6 + 0.7 + 0.95) / 3)
    assert rca_estimate(d, top_fraction=1.0) == pytest.approx(d.mean())
    with pytest.raises(ValueError, match="at least one"):
        rca_estimate([])
    with pytest.raises(ValueError, match="top_fraction"):
        rca_estimate(d, top_fraction=0.0)
