"""A compact index of where a label's foreground is, for positive-centred patch sampling.

Why: sampling a patch centred on foreground needs foreground coordinates, but loading a whole label
volume per sample defeats region reads. The index is built once per label version (slab by slab) and
can be stored beside it: a bounding box plus at most ``max_points`` coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from learning.data.readers import VolumeReader
from learning.types import Region

__all__ = ["ForegroundIndex", "foreground_index"]


@dataclass(frozen=True)
class ForegroundIndex:
    """Foreground voxels of one label volume, summarised.

    Args:
        coords: ``(N, 3)`` int32 ``(z, y, x)`` coordinates, a uniform sample of the foreground (N may be 0).
        bbox: the foreground's bounding box, or ``None`` when the label is empty.
        count: total number of foreground voxels.
        box_only: only the box is known; positive centres are drawn uniformly inside it.
    """

    coords: np.ndarray
    bbox: Region | None
    count: int
    box_only: bool = False

    def __post_init__(self) -> None:
        c = np.asarray(self.coords, dtype=np.int32).reshape(-1, 3)
        object.__setattr__(self, "coords", c)

    @property
    def empty(self) -> bool:
        return self.count == 0 or len(self.coords) == 0

    @classmethod
    def from_bbox(cls, bbox: Region) -> ForegroundIndex:
        """Index from a bounding box only: positive samples are centred uniformly inside the box."""
        lo = np.array([s.start for s in bbox], dtype=np.int32)
        hi = np.array([s.stop for s in bbox], dtype=np.int32)
        corners = np.stack([lo, hi - 1])
        return cls(coords=corners, bbox=bbox, count=int(np.prod(hi - lo)), box_only=True)

    def sample(self, rng: np.random.Generator) -> tuple[int, int, int]:
        """One foreground coordinate ``(z, y, x)``; inside the bounding box when only a box is known.

        Raises:
            ValueError: the index is empty.
        """
        if self.empty:
            raise ValueError("cannot sample a foreground coordinate from an empty label")
        if self.box_only and self.bbox is not None:
            z, y, x = (int(rng.integers(s.start, s.stop)) for s in self.bbox)
            return z, y, x
        z, y, x = (int(v) for v in self.coords[int(rng.integers(len(self.coords)))])
        return z, y, x


def foreground_index(
    label: VolumeReader, *, rng: np.random.Generator, max_points: int = 4096, slab: int = 8
) -> ForegroundIndex:
    """Scan a label volume slab by slab along Z and summarise its foreground (label > 0).

    Args:
        label: the label volume; any value > 0 is foreground.
        rng: generator for the subsample of coordinates.
        max_points: most coordinates kept.
        slab: Z slices read at a time (memory is ``slab * Y * X``).

    Returns:
        The index; ``coords`` is a (weighted-uniform) sample of at most ``max_points`` voxels.
    """
    if max_points < 1 or slab < 1:
        raise ValueError("max_points and slab must be >= 1")
    zdim, ydim, xdim = label.shape
    kept: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    count = 0
    lo = np.array([zdim, ydim, xdim])
    hi = np.array([-1, -1, -1])
    for z0 in range(0, zdim, slab):
        block = label.read((slice(z0, min(zdim, z0 + slab)), slice(0, ydim), slice(0, xdim)))
        pts = np.argwhere(block > 0)
        if len(pts) == 0:
            continue
        pts[:, 0] += z0
        count += len(pts)
        lo = np.minimum(lo, pts.min(axis=0))
        hi = np.maximum(hi, pts.max(axis=0))
        if len(pts) > max_points:
            w = len(pts) / max_points
            pts = pts[rng.choice(len(pts), size=max_points, replace=False)]
        else:
            w = 1.0
        kept.append(pts.astype(np.int32))
        weights.append(np.full(len(pts), w))
    if count == 0:
        return ForegroundIndex(coords=np.zeros((0, 3), np.int32), bbox=None, count=0)
    coords = np.concatenate(kept)
    if len(coords) > max_points:
        p = np.concatenate(weights)
        coords = coords[rng.choice(len(coords), size=max_points, replace=False, p=p / p.sum())]
    bbox = tuple(slice(int(a), int(b) + 1) for a, b in zip(lo, hi))
    return ForegroundIndex(coords=coords, bbox=bbox, count=count)  # type: ignore[arg-type]
