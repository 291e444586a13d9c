"""Shape-prior training slices: every outlined slice, a tenth as many empty ones, padded."""

from __future__ import annotations

import numpy as np

from learning.services.shape_prior import label_slices


def test_outlined_slices_and_a_few_empty_ones_padded() -> None:
    a = np.zeros((30, 10, 12), np.uint8)
    a[5:25, 2:6, 3:7] = 1  # 20 outlined slices, 10 empty
    b = np.zeros((4, 16, 16), np.uint8)
    b[1, 4:8, 4:8] = 1
    s = label_slices([a, b], hw=(16, 16), rng=np.random.default_rng(0))
    assert s.shape == (20 + 2 + 1 + 1, 16, 16) and s.dtype == np.uint8
    assert sum(bool(x.any()) for x in s) == 21
    assert (s[:22, 10:, :] == 0).all() and (s[:22, :, 12:] == 0).all()  # a's slices, padded with 0
    assert any(np.array_equal(x[:10, :12], a[5]) for x in s[:22])
    np.testing.assert_array_equal(s[22:][[x.any() for x in s[22:]]][0], b[1])


def test_cap() -> None:
    s = label_slices([np.ones((40, 4, 4), np.uint8)], hw=(4, 4), rng=np.random.default_rng(1), max_slices=7)
    assert s.shape == (7, 4, 4)
