"""Integrity checks: per-chunk crc32c failures mapped to IntegrityError, streaming sha256.

zarr's crc32c codec raises a bare ValueError on a mismatch; callers need an IntegrityError that
names the volume so the API answers 500 instead of serving wrong voxels.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import zarr

from core.errors import IntegrityError, InvalidInput

__all__ = ["guard_reads", "sha256_array", "slab_ranges", "check_region"]


@contextmanager
def guard_reads(url: str, what: str) -> Iterator[None]:
    """Turn chunk checksum / decompression failures inside the block into IntegrityError."""
    try:
        yield
    except IntegrityError:
        raise
    except ValueError as exc:
        if "checksum" not in str(exc).lower():
            raise
        raise IntegrityError(f"corrupt chunk in {what} of volume {url}: {exc}") from exc
    except RuntimeError as exc:  # numcodecs zstd/blosc: "error during decompression"
        if "compress" not in str(exc).lower():
            raise
        raise IntegrityError(f"undecodable chunk in {what} of volume {url}: {exc}") from exc


def slab_ranges(n: int, slab: int) -> Iterator[tuple[int, int]]:
    """[start, stop) ranges of ``slab`` along an axis of length ``n``."""
    for start in range(0, n, slab):
        yield start, min(n, start + slab)


def sha256_array(arr: zarr.Array, *, url: str, what: str, slab: int) -> str:
    """Hex sha256 of the array's bytes in C order, as stored dtype, read ``slab`` z-slices at a time."""
    h = hashlib.sha256()
    with guard_reads(url, what):
        for z0, z1 in slab_ranges(arr.shape[0], slab):
            h.update(np.ascontiguousarray(arr[z0:z1]).tobytes())
    return h.hexdigest()


def check_region(
    region: tuple[slice, slice, slice] | None, shape: tuple[int, ...]
) -> tuple[slice, slice, slice]:
    """Normalise a (Z, Y, X) region of step-1 slices to concrete in-bounds slices.

    Raises:
        InvalidInput: wrong arity, a non-slice, a step other than 1, or an empty region.
    """
    if region is None:
        return tuple(slice(0, n) for n in shape)  # type: ignore[return-value]
    if not isinstance(region, tuple) or len(region) != len(shape):
        raise InvalidInput(f"region must be a tuple of {len(shape)} slices (Z, Y, X), got {region!r}")
    out = []
    for s, n in zip(region, shape):
        if not isinstance(s, slice) or s.step not in (None, 1):
            raise InvalidInput(f"region entries must be step-1 slices, got {s!r}")
        for v in (s.start, s.stop):
            if v is not None and not -n <= int(v) <= n:
                raise InvalidInput(f"region {region!r} exceeds shape {shape}")
        start, stop, _ = s.indices(n)
        if stop <= start:
            raise InvalidInput(f"region {region!r} is empty for shape {shape}")
        out.append(slice(start, stop))
    return tuple(out)  # type: ignore[return-value]
