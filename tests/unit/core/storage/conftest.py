"""Builders for volume-store tests: small seeded arrays, a local and an in-memory URL."""

from __future__ import annotations

import uuid

import fsspec
import numpy as np
import pytest

from core.geometry import Geometry
from core.storage import Layout

SMALL_LAYOUT = Layout(chunks=(8, 16, 16))


def make_array(shape: tuple[int, int, int] = (20, 40, 48), seed: int = 0, dtype: str = "int16") -> np.ndarray:
    """CT-like (Z, Y, X) values in -1000..2000, seeded."""
    rng = np.random.default_rng(seed)
    return rng.integers(-1000, 2000, size=shape).astype(dtype)


def make_geometry(**overrides: object) -> Geometry:
    d = {"spacing": (0.7, 0.8, 2.5), "origin": (-120.5, 33.0, 1001.25),
         "direction": (0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, -1.0)}
    d.update(overrides)
    return Geometry(**d)  # type: ignore[arg-type]


@pytest.fixture
def local_url(tmp_path) -> str:
    return str(tmp_path / "vol.zarr")


@pytest.fixture
def memory_url():
    url = f"memory://concord-test/{uuid.uuid4().hex}.zarr"
    yield url
    fs = fsspec.filesystem("memory")
    path = url[len("memory://"):]
    if fs.exists(path):
        fs.rm(path, recursive=True)


@pytest.fixture(params=["local", "memory"])
def any_url(request, tmp_path):
    if request.param == "local":
        yield str(tmp_path / "vol.zarr")
    else:
        yield request.getfixturevalue("memory_url")
