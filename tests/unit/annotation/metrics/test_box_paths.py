"""The union-box shortcuts (patterns, STAPLE mapping, report, surfaces) against full-volume references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from annotation.metrics.distance import surface, surface_distance_matrices
from annotation.metrics.patterns import foreground_box, pattern_codes, vote_patterns
from annotation.metrics.report import agreement_report
from annotation.metrics.staple import staple, staple_fit
from tests.unit.annotation.metrics.conftest import make_rater_masks

SPACING = (2.5, 0.7, 0.9)


def _embedded(n_labels: int = 2, at: tuple[int, int, int] = (5, 7, 3)) -> np.ndarray:
    """Rater masks placed in a larger background volume (label maps when n_labels > 2)."""
    small = make_rater_masks(4, seed=3)
    if n_labels > 2:
        small = small * np.random.default_rng(0).integers(1, n_labels, size=small.shape).astype(np.uint8)
    out = np.zeros((4, 30, 40, 36), np.uint8)
    z, y, x = at
    out[:, z : z + small.shape[1], y : y + small.shape[2], x : x + small.shape[3]] = small
    return out


def test_foreground_box_is_the_union_bounding_box() -> None:
    masks = _embedded()
    box = foreground_box(masks, margin=0)
    nz = np.argwhere(masks.any(axis=0))
    assert box == tuple(slice(int(lo), int(hi) + 1) for lo, hi in zip(nz.min(axis=0), nz.max(axis=0)))
    assert foreground_box(np.zeros((2, 3, 4, 5), np.uint8)) is None


@pytest.mark.parametrize("n_labels", [2, 3])
@pytest.mark.parametrize("use_dask", [False, True])
def test_vote_patterns_equal_full_volume_histogram(n_labels: int, use_dask: bool) -> None:
    masks = _embedded(n_labels)
    vp = vote_patterns(masks, use_dask=use_dask, chunk_z=4)
    codes, counts = np.unique(pattern_codes(masks, vp.n_classes), return_counts=True)
    np.testing.assert_array_equal(vp.codes, codes)
    np.testing.assert_array_equal(vp.counts, counts)


def test_vote_patterns_of_empty_and_full_stacks() -> None:
    empty = vote_patterns(np.zeros((3, 4, 5, 6), np.uint8))
    assert empty.codes.tolist() == [0] and empty.counts.tolist() == [120]
    full = vote_patterns(np.ones((3, 4, 5, 6), np.uint8))
    assert full.codes.tolist() == [7] and full.counts.tolist() == [120]


@pytest.mark.parametrize("n_labels", [2, 3])
def test_staple_mapping_equals_full_volume_lookup(n_labels: int) -> None:
    masks = _embedded(n_labels)
    res = staple(masks)
    fit = staple_fit(masks)
    codes = pattern_codes(masks, fit.patterns.n_classes)
    pid = np.searchsorted(fit.patterns.codes, codes)  # every voxel, no box
    expected = fit.posterior.astype(np.float32)[pid]
    if n_labels == 2:
        np.testing.assert_array_equal(res.probability, expected[..., 1])
        np.testing.assert_array_equal(res.consensus, (expected[..., 1] >= 0.5).astype(np.uint8))
    else:
        np.testing.assert_array_equal(res.probability, np.moveaxis(expected, -1, 0))
        post = fit.posterior
        tie = (post == post.max(axis=1, keepdims=True)).sum(axis=1) > 1
        label = np.where(tie, post.shape[1], post.argmax(axis=1))
        np.testing.assert_array_equal(res.consensus, label[pid])


def test_report_on_embedded_case_equals_report_on_tight_crop() -> None:
    masks = _embedded()
    box = foreground_box(masks)
    crop = masks[(slice(None), *box)]
    a = agreement_report(masks, spacing=SPACING).structures[1]
    b = agreement_report(crop, spacing=SPACING).structures[1]
    for name in ("dice", "iou", "hd95_mm", "assd_mm", "hausdorff_mm"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_surface_equals_scipy_erosion(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for shape in [(7, 9, 11), (1, 5, 5), (12, 13), (20,)]:
        m = rng.random(shape) < 0.6
        structure = ndimage.generate_binary_structure(m.ndim, 1)
        ref = m & ~ndimage.binary_erosion(m, structure=structure, border_value=0)
        np.testing.assert_array_equal(surface(m), ref)


def test_kdtree_and_edt_matrices_agree_with_empty_rater() -> None:
    masks = _embedded()
    masks[2] = 0
    a = surface_distance_matrices(masks, spacing=SPACING, method="kdtree")
    b = surface_distance_matrices(masks, spacing=SPACING, method="edt")
    for name in ("hausdorff", "hd95", "assd"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-6)
    assert np.isinf(a.hausdorff[2, 0]) and a.hausdorff[2, 2] == 0.0
