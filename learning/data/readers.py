"""The small reader protocol through which numerical code reads volumes region by region.

Why: training and inference must not load whole volumes; they ask a reader for the box they need.
``workers/`` wires ``core/storage`` (zarr) in behind this protocol; tests use ``ArrayReader``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from learning.types import Region, Shape3, Spacing

__all__ = ["VolumeReader", "ArrayReader", "full_region", "check_region"]


@runtime_checkable
class VolumeReader(Protocol):
    """A 3D volume readable by region, axis order ``(Z, Y, X)``."""

    @property
    def shape(self) -> Shape3:
        """``(Z, Y, X)`` voxel counts."""
        ...

    @property
    def spacing(self) -> Spacing:
        """Voxel spacing in mm, index order ``(x, y, z)``."""
        ...

    def read(self, region: Region) -> np.ndarray:
        """Return the voxels of ``region`` (a box inside ``shape``) as a ``(z, y, x)`` array."""
        ...


def full_region(shape: Shape3) -> Region:
    """The region covering a whole volume of ``shape``."""
    return (slice(0, shape[0]), slice(0, shape[1]), slice(0, shape[2]))


def check_region(region: Region, shape: Shape3) -> Region:
    """Validate that ``region`` is a non-empty box with explicit bounds inside ``shape``.

    Raises:
        ValueError: a bound is missing, a step is given, or the box leaves the volume or is empty.
    """
    if len(region) != 3:
        raise ValueError(f"region must have 3 slices (Z, Y, X), got {len(region)}")
    for axis, (s, n) in enumerate(zip(region, shape)):
        if s.start is None or s.stop is None or s.step not in (None, 1):
            raise ValueError(f"region axis {axis} needs explicit start/stop and no step, got {s}")
        if not 0 <= s.start < s.stop <= n:
            raise ValueError(f"region axis {axis} {s.start}:{s.stop} is empty or outside 0:{n}")
    return region


class ArrayReader:
    """``VolumeReader`` over any array-like indexable by slices (NumPy array, ``zarr.Array``, memmap).

    Reading a ``zarr.Array`` by region decodes only the chunks the region touches.

    Args:
        array: a ``(Z, Y, X)`` array-like with ``shape`` and ``__getitem__``.
        spacing: voxel spacing in mm, index order ``(x, y, z)``.
    """

    def __init__(self, array: Any, spacing: Spacing = (1.0, 1.0, 1.0)) -> None:
        if len(array.shape) != 3:
            raise ValueError(f"ArrayReader needs a 3D (Z, Y, X) array, got shape {tuple(array.shape)}")
        self._array = array
        self._spacing = tuple(float(s) for s in spacing)

    @property
    def shape(self) -> Shape3:
        z, y, x = (int(n) for n in self._array.shape)
        return (z, y, x)

    @property
    def spacing(self) -> Spacing:
        return self._spacing  # type: ignore[return-value]

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self._array.dtype)

    def read(self, region: Region) -> np.ndarray:
        check_region(region, self.shape)
        return np.asarray(self._array[region])
