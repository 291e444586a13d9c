from __future__ import annotations

import itertools

import numpy as np
import pytest

from annotation.metrics.distance import (
    assd,
    hausdorff,
    hd95,
    surface,
    surface_distance_matrices,
    surface_distances,
    voxel_hausdorff,
)
from tests.unit.annotation.metrics.conftest import make_rater_masks, to_sitk


def _point(shape, idx) -> np.ndarray:
    m = np.zeros(shape, dtype=np.uint8)
    m[idx] = 1
    return m


@pytest.mark.parametrize(
    ("ia", "ib", "spacing", "expected"),
    [
        ((1, 1, 1), (1, 1, 4), (1.0, 1.0, 1.0), 3.0),
        ((1, 1, 1), (3, 1, 1), (2.5, 0.7, 0.7), 5.0),  # z steps are 2.5 mm
        ((1, 1, 1), (1, 4, 5), (2.0, 0.5, 0.5), np.hypot(1.5, 2.0)),
    ],
)
def test_single_voxels_hand_computed(ia, ib, spacing, expected) -> None:
    a, b = _point((5, 6, 7), ia), _point((5, 6, 7), ib)
    assert hausdorff(a, b, spacing=spacing) == pytest.approx(expected)
    assert hd95(a, b, spacing=spacing) == pytest.approx(expected)
    assert assd(a, b, spacing=spacing) == pytest.approx(expected)


def test_surface_of_cube_is_its_shell() -> None:
    m = np.zeros((5, 5, 5), bool)
    m[1:4, 1:4, 1:4] = True
    s = surface(m)
    assert s.sum() == 27 - 1 and not s[2, 2, 2]
    # touching the border: outside counts as background
    assert surface(np.ones((3, 3, 3))).sum() == 26


def test_empty_conventions() -> None:
    z = np.zeros((4, 4, 4), np.uint8)
    a = _point((4, 4, 4), (1, 1, 1))
    assert hd95(z, z, spacing=(1, 1, 1)) == 0.0
    assert assd(z, z, spacing=(1, 1, 1)) == 0.0
    assert hd95(a, z, spacing=(1, 1, 1)) == np.inf
    assert hausdorff(z, a, spacing=(1, 1, 1)) == np.inf


def _brute(a: np.ndarray, b: np.ndarray, spacing) -> tuple[np.ndarray, np.ndarray]:
    sp = np.asarray(spacing)
    pa = np.argwhere(surface(a)) * sp
    pb = np.argwhere(surface(b)) * sp
    d = np.sqrt(((pa[:, None, :] - pb[None, :, :]) ** 2).sum(-1))
    return d.min(axis=1), d.min(axis=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force(seed: int) -> None:
    masks = make_rater_masks(2, shape=(10, 16, 18), seed=seed)
    spacing = (2.0, 0.8, 0.6)
    ref_ab, ref_ba = _brute(masks[0], masks[1], spacing)
    d_ab, d_ba = surface_distances(masks[0], masks[1], spacing=spacing)
    np.testing.assert_allclose(np.sort(d_ab), np.sort(ref_ab), atol=1e-9)
    np.testing.assert_allclose(np.sort(d_ba), np.sort(ref_ba), atol=1e-9)
    ref_hd95 = max(np.percentile(ref_ab, 95), np.percentile(ref_ba, 95))
    assert hd95(masks[0], masks[1], spacing=spacing) == pytest.approx(ref_hd95, abs=1e-9)
    ref_assd = (ref_ab.sum() + ref_ba.sum()) / (ref_ab.size + ref_ba.size)
    assert assd(masks[0], masks[1], spacing=spacing) == pytest.approx(ref_assd, abs=1e-9)


@pytest.mark.parametrize("method", ["edt", "kdtree"])
def test_matrices_match_pairwise_functions(method: str) -> None:
    masks = make_rater_masks(4, seed=3)
    spacing = (2.5, 0.7, 0.7)
    mats = surface_distance_matrices(masks, spacing=spacing, method=method)
    for i, j in itertools.combinations(range(4), 2):
        assert mats.hd95[i, j] == pytest.approx(hd95(masks[i], masks[j], spacing=spacing), abs=1e-5)
        assert mats.assd[j, i] == pytest.approx(assd(masks[i], masks[j], spacing=spacing), abs=1e-5)
        assert mats.hausdorff[i, j] == pytest.approx(hausdorff(masks[i], masks[j], spacing=spacing), abs=1e-5)


@pytest.mark.realdata
def test_hausdorff_matches_sitk_on_lidc(lidc_cases) -> None:
    import SimpleITK as sitk

    n_equal = n_pairs = 0
    for _, masks, spacing in lidc_cases:
        for i, j in itertools.combinations(range(4), 2):
            f = sitk.HausdorffDistanceImageFilter()
            f.Execute(to_sitk(masks[i], spacing), to_sitk(masks[j], spacing))
            ref = f.GetHausdorffDistance()
            assert abs(voxel_hausdorff(masks[i], masks[j], spacing=spacing) - ref) <= 1e-3
            # surface-based Hausdorff: never below the voxel-based one (surface voxels of a inside b
            # count their distance to b's surface); equal on most pairs
            assert hausdorff(masks[i], masks[j], spacing=spacing) >= ref - 1e-3
            n_equal += abs(hausdorff(masks[i], masks[j], spacing=spacing) - ref) <= 1e-3
            n_pairs += 1
    assert n_equal >= 0.8 * n_pairs
