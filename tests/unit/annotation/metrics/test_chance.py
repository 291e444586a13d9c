from __future__ import annotations

import numpy as np
import pytest

from annotation.metrics.chance import fleiss_kappa, krippendorff_alpha

# 2 raters, 4 voxels: r1 = 1100, r2 = 1000 (hand-computed: kappa = 7/15, alpha = 8/15)
TINY = np.array([[1, 1, 0, 0], [1, 0, 0, 0]], dtype=np.uint8)


def _fleiss_ref(labels: np.ndarray, n_classes: int) -> float:
    """Textbook Fleiss (1971) with explicit loops over items."""
    r, n_items = labels.shape
    nij = np.zeros((n_items, n_classes))
    for i in range(n_items):
        for k in range(r):
            nij[i, labels[k, i]] += 1
    p_i = [(sum(x * x for x in row) - r) / (r * (r - 1)) for row in nij]
    p_j = nij.sum(axis=0) / (n_items * r)
    pe = (p_j**2).sum()
    return (np.mean(p_i) - pe) / (1 - pe)


def _alpha_ref(labels: np.ndarray, n_classes: int) -> float:
    """Krippendorff's nominal alpha from the pairable-values definition (loops over value pairs)."""
    r, n_items = labels.shape
    o = np.zeros((n_classes, n_classes))
    for i in range(n_items):
        vals = labels[:, i]
        for a in range(r):
            for b in range(r):
                if a != b:
                    o[vals[a], vals[b]] += 1.0 / (r - 1)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    d_o = (o.sum() - np.trace(o)) / n
    d_e = sum(n_c[c] * n_c[k] for c in range(n_classes) for k in range(n_classes) if c != k) / (n * (n - 1))
    return 1 - d_o / d_e


def test_hand_computed() -> None:
    assert fleiss_kappa(TINY) == pytest.approx(7 / 15)
    assert krippendorff_alpha(TINY) == pytest.approx(8 / 15)


@pytest.mark.parametrize(("r", "n_classes", "seed"), [(2, 2, 0), (3, 2, 1), (4, 3, 2), (5, 4, 3)])
def test_matches_slow_reference(r: int, n_classes: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, size=60)
    labels = np.where(rng.random((r, 60)) < 0.7, truth, rng.integers(0, n_classes, size=(r, 60)))
    vol = labels.reshape(r, 3, 4, 5)
    assert fleiss_kappa(vol, n_classes=n_classes) == pytest.approx(_fleiss_ref(labels, n_classes), abs=1e-12)
    assert krippendorff_alpha(vol, n_classes=n_classes) == pytest.approx(_alpha_ref(labels, n_classes), abs=1e-12)


def test_perfect_agreement_and_roi() -> None:
    m = np.zeros((3, 8, 8, 8), np.uint8)
    m[:, 3:5, 3:5, 3:5] = 1
    assert fleiss_kappa(m) == 1.0
    assert krippendorff_alpha(m) == 1.0
    m[0, 2, 3, 3] = 1
    whole = fleiss_kappa(m)
    roi = fleiss_kappa(m, roi=True, roi_dilation=1)
    assert roi < whole  # background inflates agreement


def test_bad_level() -> None:
    with pytest.raises(ValueError, match="nominal"):
        krippendorff_alpha(TINY, level="interval")
