from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from annotation.metrics.staple import staple
from tests.unit.annotation.metrics.conftest import make_rater_masks, to_sitk


def _voxelwise_binary(masks: np.ndarray, tol: float = 1e-7, max_iter: int = 1000):
    """Plain voxel-wise EM, ITK's loop transcribed without the pattern trick."""
    d = masks.reshape(masks.shape[0], -1).astype(np.float64)
    w = d.mean(axis=0)
    g = w.mean()
    lp = lq = np.full(d.shape[0], -10.0)
    for it in range(max_iter):
        p = (d * w).sum(axis=1) / w.sum()
        q = ((1 - d) * (1 - w)).sum(axis=1) / (1 - w).sum()
        a = np.prod(np.where(d > 0, p[:, None], 1 - p[:, None]), axis=0)
        b = np.prod(np.where(d > 0, 1 - q[:, None], q[:, None]), axis=0)
        w = g * a / (g * a + (1 - g) * b)
        if it > 0 and np.all(np.abs(p - lp) <= tol) and np.all(np.abs(q - lq) <= tol):
            break
        lp, lq = p, q
    return p, q, w.reshape(masks.shape[1:])


def test_pattern_em_equals_voxelwise_em() -> None:
    masks = make_rater_masks(5, seed=4)
    res = staple(masks)
    p, q, w = _voxelwise_binary(masks)
    np.testing.assert_allclose(res.sensitivity, p, atol=1e-10)
    np.testing.assert_allclose(res.specificity, q, atol=1e-10)
    np.testing.assert_allclose(res.probability, w, atol=1e-6)
    assert res.converged and res.probability.dtype == np.float32 and res.consensus.dtype == np.uint8


def test_identical_raters() -> None:
    m = np.zeros((3, 4, 5, 6), np.uint8)
    m[:, 1:3, 1:4, 2:5] = 1
    res = staple(m)
    np.testing.assert_array_equal(res.consensus, m[0])
    np.testing.assert_allclose(res.sensitivity, 1.0)
    np.testing.assert_allclose(res.specificity, 1.0)


def test_dask_equals_numpy() -> None:
    masks = make_rater_masks(4, shape=(20, 24, 24), seed=5)
    a = staple(masks, use_dask=False)
    b = staple(masks, use_dask=True)
    np.testing.assert_array_equal(a.probability, b.probability)
    np.testing.assert_array_equal(a.sensitivity, b.sensitivity)


@pytest.mark.realdata
def test_binary_matches_sitk_on_lidc(lidc_cases) -> None:
    import SimpleITK as sitk

    assert len(lidc_cases) >= 5
    for case_id, masks, spacing in lidc_cases:
        f = sitk.STAPLEImageFilter()
        f.SetForegroundValue(1.0)
        prob = sitk.GetArrayFromImage(f.Execute([to_sitk(m, spacing) for m in masks]))
        res = staple(masks)
        assert np.abs(res.sensitivity - np.array(f.GetSensitivity())).max() <= 1e-3, case_id
        assert np.abs(res.specificity - np.array(f.GetSpecificity())).max() <= 1e-3, case_id
        assert np.abs(res.probability - prob).max() <= 1e-3, case_id


def _core_rim(masks: np.ndarray) -> np.ndarray:
    out = []
    for m in masks:
        lab = m.astype(np.uint8) * 2
        lab[ndimage.binary_erosion(m)] = 1  # 1 = core, 2 = rim
        out.append(lab)
    return np.stack(out)


@pytest.mark.realdata
def test_multilabel_matches_sitk_on_lidc(lidc_cases) -> None:
    import SimpleITK as sitk

    for case_id, masks, spacing in lidc_cases:
        labels = _core_rim(masks)
        ref = sitk.GetArrayFromImage(
            sitk.MultiLabelSTAPLEImageFilter().Execute([to_sitk(m, spacing) for m in labels])
        )
        res = staple(labels)
        assert res.probability.shape == (3, *masks.shape[1:])
        total = res.probability.sum(axis=0)
        # 1, or 0 for a vote pattern impossible under every class (ITK: "undecided" as well)
        assert np.all((np.abs(total - 1) < 1e-5) | ((total == 0) & (res.consensus == 3)))
        assert (res.consensus == ref).mean() >= 0.999, case_id
