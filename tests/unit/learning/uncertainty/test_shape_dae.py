"""Shape DAE: corruptions change masks; a briefly trained DAE cleans corrupted shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from annotation.metrics.overlap import dice
from learning.nets.shape_dae import (
    ShapeDAEConfig,
    corrupt,
    random_morphology,
    reconstruct,
    salt_pepper,
    swap_boundary,
    train_shape_dae,
)
from learning.uncertainty import anatomical_uncertainty


def disc(size: int = 16, r: float = 4.0, cy: float = 8, cx: float = 8) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r).astype(np.uint8)


@pytest.mark.parametrize("fn", [swap_boundary, random_morphology, salt_pepper])
def test_corruptions_change_the_mask(fn) -> None:
    m = disc()
    out = fn(m, np.random.default_rng(0))
    assert out.shape == m.shape and out.dtype == np.uint8
    assert (out != m).any()


def test_dae_reconstructs_better_than_corruption() -> None:
    rng = np.random.default_rng(0)
    masks = np.stack([disc(r=float(rng.uniform(3, 5)), cy=float(rng.uniform(6, 10)), cx=float(rng.uniform(6, 10))) for _ in range(64)])
    dae = train_shape_dae(masks, config=ShapeDAEConfig(channels=(8, 16), bottleneck=4), iterations=150, batch_size=16,
                          lr=5e-3, rng=rng, device=torch.device("cpu"))
    test_rng = np.random.default_rng(1)
    clean = masks[:16]
    noisy = np.stack([swap_boundary(salt_pepper(m, test_rng, p=0.05), test_rng, p=0.5) for m in clean]).astype(np.float32)
    rec = reconstruct(dae, noisy) >= 0.5
    d_noisy = np.mean([dice(n >= 0.5, c) for n, c in zip(noisy, clean)])
    d_rec = np.mean([dice(r, c) for r, c in zip(rec, clean)])
    assert d_rec > d_noisy
    u_clean = anatomical_uncertainty(clean.astype(np.float32), dae).mean()
    u_noisy = anatomical_uncertainty(noisy, dae).mean()
    assert u_noisy > u_clean


def test_corrupt_is_soft_in_unit_range() -> None:
    c = corrupt(disc(), np.random.default_rng(0))
    assert c.dtype == np.float32 and c.min() >= 0 and c.max() <= 1


@pytest.mark.parametrize("sd", [2, 3])
def test_subpixel_up_places_each_channel_group_on_its_own_offset(sd: int) -> None:
    """The voxel shuffle must put sub-voxel (i, j[, k]) of the 2**sd conv outputs at offset (i, j[, k])."""
    from learning.nets.shape_dae import _SubPixelUp

    up = _SubPixelUp(sd, 1, 1, act=False)
    with torch.no_grad():
        up.conv.weight.zero_()
        up.conv.bias.copy_(torch.arange(2**sd, dtype=torch.float32))  # channel q outputs the constant q
    out = up(torch.zeros(1, 1, *([3] * sd)))
    assert out.shape == (1, 1, *([6] * sd))
    offsets = np.indices([2] * sd).reshape(sd, -1).T  # row-major (i, j[, k]) for q = 0..2**sd-1
    for q, off in enumerate(offsets):
        block = out[(0, 0, *[slice(o, None, 2) for o in off])]
        assert torch.all(block == q), (q, off)
    if sd == 2:  # the same layout as torch's pixel_shuffle
        assert torch.equal(out, torch.nn.functional.pixel_shuffle(up.conv(torch.zeros(1, 1, 3, 3)), 2))
