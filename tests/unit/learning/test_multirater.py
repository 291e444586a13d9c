"""Multi-rater training items: every outlined slice and as many empty ones, or 3D patches half on
foreground; raters cycled; padded."""

from __future__ import annotations

import numpy as np

from learning.data import training_patches, training_slices


def test_slices_keep_outlined_ones_cycle_raters_and_pad() -> None:
    rng = np.random.default_rng(0)
    a = np.arange(6 * 10 * 12, dtype=np.float32).reshape(6, 10, 12)
    ma = np.zeros((2, 6, 10, 12), np.uint8)
    ma[0, 2, 3:5, 3:5] = 1
    ma[1, 3, 4:6, 4:6] = 1  # slices 2 and 3 outlined, by different raters
    b = np.zeros((4, 8, 8), np.float32)
    mb = np.zeros((3, 4, 8, 8), np.uint8)
    mb[:, 1, 2:4, 2:4] = 1
    x, y = training_slices([a, b], [ma, mb], hw=(16, 16), n_raters=4, rng=rng)
    assert x.shape == (4 + 2, 1, 16, 16) and y.shape == (6, 4, 16, 16) and y.dtype == np.uint8
    outlined = [s for s in range(len(y)) if y[s].any()]
    assert len(outlined) == 3  # a's slices 2, 3 and b's slice 1; plus one empty slice per outlined one
    # case a (2 raters) cycles as raters 0, 1, 0, 1; its slice 2 is outlined by rater 0 only
    s2 = next(s for s in range(len(x)) if x[s, 0, 0, 0] == a[2, 0, 0])
    assert [int(y[s2, r].sum()) for r in range(4)] == [4, 0, 4, 0]
    # padding at the ends with the case's minimum; the image itself unchanged
    np.testing.assert_array_equal(x[s2, 0, :10, :12], a[2])
    assert (x[s2, 0, 10:, :] == a.min()).all() and (y[:, :, 10:, :] == 0).all()


def test_the_cap_keeps_a_random_subset() -> None:
    m = np.ones((1, 50, 4, 4), np.uint8)
    x, y = training_slices([np.zeros((50, 4, 4), np.float32)], [m], hw=(4, 4), n_raters=2,
                           rng=np.random.default_rng(1), max_slices=10)
    assert x.shape[0] == 10 and y.shape == (10, 2, 4, 4)


def test_3d_patches_centre_on_foreground_cycle_raters_and_pad() -> None:
    """Half the patches hold a rater's foreground; a case smaller than the patch is padded at the far
    ends; raters cycle as in 2D."""
    image = np.arange(6 * 20 * 20, dtype=np.float32).reshape(6, 20, 20)
    m = np.zeros((2, 6, 20, 20), np.uint8)
    m[1, 3, 15:17, 2:4] = 1  # rater 1 only, near an edge
    x, y = training_patches([image], [m], patch=(8, 8, 8), n_raters=4, rng=np.random.default_rng(0), per_case=3)
    assert x.shape == (6, 1, 8, 8, 8) and y.shape == (6, 4, 8, 8, 8) and y.dtype == np.uint8
    assert sum(bool(y[i].any()) for i in range(3)) == 3  # the three foreground-centred ones
    assert [int(y[0, r].sum()) for r in range(4)] == [0, 4, 0, 4]
    # z: 6 slices in an 8-deep patch, padded with the image's minimum after the last slice
    assert (x[:, 0, 6:] == image.min()).all() and (y[:, :, 6:] == 0).all()
    # every patch is a window of the image itself
    for i in range(len(x)):
        z, yy, xx = np.argwhere(image == x[i, 0, 0, 0, 0])[0]
        np.testing.assert_array_equal(x[i, 0, :6], image[:, yy:yy + 8, xx:xx + 8])
