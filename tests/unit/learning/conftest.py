"""Builders for learning tests: tiny synthetic volumes with blobs, a reader that records its reads;
and one torch intra-op thread for every learning test (on a shared 2-core machine torch's thread
pool over-subscribes and slows tests 5-10x)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from learning.data import ArrayReader, NormConfig, TrainItem
from learning.nets import NetConfig
from learning.types import Region

TINY_NET_3D = NetConfig(spatial_dims=3, channels=(4, 8, 16), strides=(2, 2), num_res_units=1)
TINY_NET_2D = NetConfig(spatial_dims=2, channels=(4, 8, 16), strides=(2, 2), num_res_units=1)
NO_NORM = NormConfig(mode="none")


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class CountingReader(ArrayReader):
    """An ``ArrayReader`` that records every region it is asked for."""

    def __init__(self, array: np.ndarray) -> None:
        super().__init__(array)
        self.regions: list[Region] = []

    def read(self, region: Region) -> np.ndarray:
        self.regions.append(region)
        return super().read(region)


def make_blob_volume(shape=(24, 32, 32), *, seed: int = 0, radius: float = 5.0, noise: float = 0.3):
    """A noisy image with one bright sphere and its uint8 mask, both ``(Z, Y, X)``."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.indices(shape)
    c = [rng.integers(int(radius) + 1, s - int(radius) - 1) if s > 2 * radius + 2 else s // 2 for s in shape]
    mask = ((zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2 < radius**2).astype(np.uint8)
    image = (mask.astype(np.float32) + rng.normal(0, noise, shape)).astype(np.float32)
    return image, mask


def make_blob_item(shape=(24, 32, 32), *, seed: int = 0, **kw) -> TrainItem:
    image, mask = make_blob_volume(shape, seed=seed, **kw)
    return TrainItem(image=ArrayReader(image), label=ArrayReader(mask))
