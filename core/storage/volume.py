"""The image side of the volume store: create, open, read, verify and delete one OME-Zarr group.

Group layout (zarr v3, NGFF 0.5)::

    <url>/zarr.json        attrs {"ome": {multiscales}, "concord": {geometry, dtype, shape, sha256, ...}}
    <url>/0, 1, ...        image pyramid, (Z, Y, X), finest first
    <url>/labels/...       label images (see ``core.storage.labels``)

``attrs["concord"]`` is written last: a group without it is a half-written volume.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
from typing import Any

import numpy as np
import zarr
import zarr.errors
from zarr.abc.store import Store
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync

from core.errors import Conflict, IntegrityError, InvalidInput, NotFound
from core.geometry import Geometry
from core.storage import ngff
from core.storage.chunkio import ChunkReader
from core.storage.integrity import check_region, guard_reads, sha256_array, slab_ranges
from core.storage.labels import LabelStore, create_label_in, delete_label_in, open_label_in
from core.storage.layout import IMAGE_LAYOUT, MIN_LEVEL_SIZE, Layout
from core.storage.location import check_key, delete_url, open_store
from core.storage.pyramid import downsample_mean, plan_factors

__all__ = ["VolumeStore", "open_volume", "create_volume", "delete_volume", "AXES"]

AXES = {"axial": 0, "coronal": 1, "sagittal": 2}
_REQUIRED = ("format", "geometry", "dtype", "shape", "sha256", "levels")
_FORMAT = 1
_SLAB_VOXELS = 16 * 2**20  # about 16 Mi voxels per streamed slab


def _slab_for(write_z: int, plane: int) -> int:
    """Slices per streamed slab: a whole number of chunk/shard rows, about _SLAB_VOXELS voxels."""
    return write_z * max(1, _SLAB_VOXELS // max(1, plane * write_z))


class VolumeStore:
    """An opened volume: the image pyramid, its Concord metadata and its label images.

    Use ``open_volume`` / ``create_volume`` rather than the constructor.
    """

    def __init__(self, url: str, store: Store, group: zarr.Group, *, writable: bool) -> None:
        self.url = url
        self._store = store
        self._group = group
        self._writable = writable
        attrs = dict(group.attrs)
        concord = attrs.get("concord")
        if not isinstance(concord, dict) or any(k not in concord for k in _REQUIRED):
            raise IntegrityError(f"incomplete volume at {url}: Concord metadata missing")
        self._concord = concord
        try:
            self._paths = ngff.level_paths(attrs["ome"])
        except (KeyError, IndexError, TypeError) as exc:
            raise IntegrityError(f"incomplete volume at {url}: NGFF multiscales missing") from exc
        self._arrays: dict[int, zarr.Array] = {}
        self._readers: dict[int, ChunkReader | None] = {}

    # metadata -----------------------------------------------------------------------------
    @property
    def attrs(self) -> dict[str, Any]:
        """Group attributes: ``{"ome": ..., "concord": ...}`` (a copy)."""
        return dict(self._group.attrs)

    @property
    def geometry(self) -> Geometry:
        return Geometry.from_dict(self._concord["geometry"])

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self._concord["dtype"])

    @property
    def levels(self) -> int:
        return len(self._paths)

    @property
    def checksum(self) -> str:
        """Hex sha256 of level 0's bytes (C order, stored dtype), recorded at creation."""
        return str(self._concord["sha256"])

    def shape(self, level: int = 0) -> tuple[int, int, int]:
        return tuple(self._array(level).shape)  # type: ignore[return-value]

    def chunk_shape(self, level: int = 0) -> tuple[int, int, int]:
        """Shape of the read unit (inner chunk when sharded), (Z, Y, X) voxels."""
        return tuple(self._array(level).chunks)  # type: ignore[return-value]

    def _array(self, level: int) -> zarr.Array:
        if not isinstance(level, (int, np.integer)) or not 0 <= level < len(self._paths):
            raise InvalidInput(f"level {level!r} out of range 0..{len(self._paths) - 1} for {self.url}")
        arr = self._arrays.get(int(level))
        if arr is None:
            try:
                arr = self._group[self._paths[level]]
            except KeyError as exc:
                raise IntegrityError(f"incomplete volume at {self.url}: level {level} array missing") from exc
            self._arrays[int(level)] = arr  # type: ignore[assignment]
            self._readers[int(level)] = ChunkReader.for_array(arr, self._store, self.url)  # type: ignore[arg-type]
        return arr  # type: ignore[return-value]

    def _get(self, level: int, sel: tuple[slice, slice, slice]) -> np.ndarray:
        arr = self._array(level)
        reader = self._readers[int(level)]
        with guard_reads(self.url, f"level {level}"):
            return reader.read(sel) if reader is not None else arr[sel]

    # reads --------------------------------------------------------------------------------
    def read(
        self, level: int = 0, region: tuple[slice, slice, slice] | None = None, *, verify: bool = False
    ) -> np.ndarray:
        """Voxels of ``region`` (Z, Y, X step-1 slices) at ``level``; only touched chunks are read.

        Every chunk's crc32c is checked. ``verify=True`` (whole level 0 only) also checks the sha256.

        Raises:
            IntegrityError: a chunk or the whole-volume checksum does not match.
            InvalidInput: bad level or region, or ``verify`` on a partial or coarse read.
        """
        arr = self._array(level)
        sel = check_region(region, arr.shape)
        whole = all(s.start == 0 and s.stop == n for s, n in zip(sel, arr.shape))
        if verify and (level != 0 or not whole):
            raise InvalidInput("verify=True needs a full read of level 0")
        out = self._get(level, sel)
        if verify:
            digest = hashlib.sha256(np.ascontiguousarray(out).tobytes()).hexdigest()
            if digest != self.checksum:
                raise IntegrityError(f"checksum mismatch for volume {self.url}: stored {self.checksum}, read {digest}")
        return out

    def read_slice(self, axis: str, index: int, level: int = 0) -> np.ndarray:
        """One 2D plane as stored (no display flips): axial = fixed z -> (Y, X),
        coronal = fixed y -> (Z, X), sagittal = fixed x -> (Z, Y)."""
        if axis not in AXES:
            raise InvalidInput(f"axis must be one of {sorted(AXES)}, got {axis!r}")
        arr = self._array(level)
        a = AXES[axis]
        n = arr.shape[a]
        if not isinstance(index, (int, np.integer)) or not 0 <= index < n:
            raise InvalidInput(f"{axis} index {index!r} out of range 0..{n - 1}")
        sel = [slice(0, m) for m in arr.shape]
        sel[a] = slice(int(index), int(index) + 1)
        plane = self._get(level, tuple(sel))  # type: ignore[arg-type]
        return plane[0] if a == 0 else (plane[:, 0] if a == 1 else plane[:, :, 0])

    def verify(self) -> None:
        """Recompute level 0's sha256 and compare with the stored one (reads the whole level).

        Raises:
            IntegrityError: mismatch, or a corrupt chunk.
        """
        arr = self._array(0)
        if tuple(arr.shape) != tuple(self._concord["shape"]) or arr.dtype != self.dtype:
            raise IntegrityError(f"volume {self.url}: level 0 shape/dtype differ from its metadata")
        digest = sha256_array(arr, url=self.url, what="level 0", slab=_slab_for(arr.chunks[0], arr.shape[1] * arr.shape[2]))
        if digest != self.checksum:
            raise IntegrityError(f"checksum mismatch for volume {self.url}: stored {self.checksum}, computed {digest}")

    def get_key(self, key: str) -> bytes | None:
        """Raw stored bytes of a zarr key ("zarr.json", "0/zarr.json", "0/c/0/1/2"), None if absent.

        For serving the group to a browser zarr client; the key is validated (no "..", no "/" start).
        """
        check_key(key)
        buf = sync(self._store.get(key, prototype=default_buffer_prototype()))
        return None if buf is None else buf.to_bytes()

    # labels -------------------------------------------------------------------------------
    def label_names(self) -> list[str]:
        try:
            labels = self._group["labels"]
        except KeyError:
            return []
        return sorted(labels.group_keys())  # the groups themselves: the NGFF list may lag writers

    def create_label(
        self,
        name: str,
        array: np.ndarray | None = None,
        *,
        colors: dict[int, tuple[int, ...]] | None = None,
        source_version: str | None = None,
        layout: Layout | None = None,
    ) -> LabelStore:
        """New label image ``labels/<name>``, uint8 (Z, Y, X) of the volume's level-0 shape; None = zeros.

        ``colors``: label value -> RGB(A) 0..255; ``source_version``: what it was derived from
        (e.g. a prediction or version id); ``layout``: default ``LABEL_LAYOUT`` (one-slice edits).

        Raises:
            InvalidInput: bad name, shape, values; the volume was opened read-only.
            Conflict: the label exists.
        """
        self._need_writable()
        return create_label_in(
            self._group, self.url, name, array, shape=self.shape(0), spacing_zyx=self.geometry.spacing_zyx,
            colors=colors, source_version=source_version, layout=layout,
        )

    def open_label(self, name: str) -> LabelStore:
        return open_label_in(self._group, self.url, name, writable=self._writable)

    def delete_label(self, name: str) -> None:
        self._need_writable()
        delete_label_in(self._group, self._store, self.url, name)

    def _need_writable(self) -> None:
        if not self._writable:
            raise InvalidInput(f"volume {self.url} was opened read-only (use mode='r+')")

    def __repr__(self) -> str:
        return f"VolumeStore({self.url!r}, shape={self._concord['shape']}, levels={self.levels})"


def open_volume(url: str, mode: str = "r") -> VolumeStore:
    """Open a published volume. ``mode``: "r" read-only, "r+" to add or edit labels.

    Raises:
        NotFound: nothing at ``url``.
        IntegrityError: the group exists but its Concord metadata is missing (half written).
    """
    if mode not in ("r", "r+"):
        raise InvalidInput(f"mode must be 'r' or 'r+', got {mode!r}")
    store = open_store(url, read_only=mode == "r")
    try:
        group = zarr.open_group(store, mode="r" if mode == "r" else "r+")
    except (FileNotFoundError, zarr.errors.GroupNotFoundError, zarr.errors.NodeTypeValidationError) as exc:
        raise NotFound(f"no volume at {url}") from exc
    return VolumeStore(url, store, group, writable=mode == "r+")


def create_volume(
    url: str,
    array: Any,
    geometry: Geometry,
    *,
    levels: int | None = None,
    extra_attrs: dict | None = None,
    layout: Layout | None = None,
) -> VolumeStore:
    """Write a new volume (image pyramid + metadata) under a fresh ``url`` and return it opened "r+".

    Streams by slabs of z, so only a few slabs are held beyond the input; a dask input is computed
    slab by slab.

    Args:
        array: (Z, Y, X) numpy or dask array, any integer or float dtype; stored as given.
        geometry: scanner geometry (spacing/origin in (x, y, z) mm LPS).
        levels: number of pyramid levels; None = halve until an in-plane side would drop below 32.
        extra_attrs: JSON-able provenance merged into ``attrs["concord"]`` (reserved keys refused).
        layout: chunking/codec; default ``IMAGE_LAYOUT`` (chosen by ``bench/slices.py --sweep``).

    Raises:
        InvalidInput: not 3D, unsupported dtype, bad levels or extra_attrs.
        Conflict: something already exists at ``url``.
    """
    layout = layout or IMAGE_LAYOUT
    shape = tuple(int(n) for n in getattr(array, "shape", ()))
    if len(shape) != 3 or min(shape) < 1:
        raise InvalidInput(f"volume must be a non-empty 3D (Z, Y, X) array, got shape {shape}")
    dtype = np.dtype(array.dtype)
    if dtype.kind not in "iuf" or dtype.itemsize > 8:
        raise InvalidInput(f"unsupported voxel dtype {dtype}")
    if levels is not None and levels < 1:
        raise InvalidInput(f"levels must be >= 1, got {levels}")
    extra = dict(extra_attrs or {})
    if clash := set(extra) & {*_REQUIRED, "factors", "layout", "created", "origin"}:
        raise InvalidInput(f"extra_attrs may not set reserved keys {sorted(clash)}")
    try:
        json.dumps(extra)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"extra_attrs must be JSON-serialisable: {exc}") from exc

    store = open_store(url, read_only=False)
    try:
        group = zarr.create_group(store, overwrite=False, zarr_format=3)
    except (zarr.errors.ContainsGroupError, zarr.errors.ContainsArrayError, FileExistsError) as exc:
        raise Conflict(f"something already exists at {url}") from exc

    try:
        _write_pyramid(group, array, shape, dtype, geometry, levels, layout, extra)
    except BaseException:
        with contextlib.suppress(Exception):  # best effort; the caller may also delete_volume(url)
            delete_url(url)
        raise
    return VolumeStore(url, store, group, writable=True)


def _write_pyramid(
    group: zarr.Group, array: Any, shape: tuple[int, ...], dtype: np.dtype, geometry: Geometry,
    levels: int | None, layout: Layout, extra: dict,
) -> None:
    """Write all levels slab by slab, then the metadata (Concord attrs last)."""
    factors = plan_factors(shape, geometry.spacing_zyx, levels=levels, min_size=MIN_LEVEL_SIZE)  # type: ignore[arg-type]
    arrays = []
    for i, f in enumerate(factors):
        lshape = tuple(-(-n // k) for n, k in zip(shape, f))
        chunks, shards = layout.for_shape(lshape)
        arrays.append(
            group.create_array(
                str(i), shape=lshape, dtype=dtype, chunks=chunks, shards=shards,
                compressors=layout.compressors(), fill_value=0, dimension_names=("z", "y", "x"),
                config={"write_empty_chunks": True},
            )
        )

    # level 0, streamed, hashed in C order
    h = hashlib.sha256()
    a0 = arrays[0]
    write_z = (a0.shards or a0.chunks)[0]
    for z0, z1 in slab_ranges(shape[0], _slab_for(write_z, shape[1] * shape[2])):
        slab = np.ascontiguousarray(np.asarray(array[z0:z1]), dtype=dtype)
        h.update(slab.tobytes())
        a0[z0:z1] = slab
    # coarse levels from the previous level, slab by slab
    for i in range(1, len(factors)):
        step = tuple(f // p for f, p in zip(factors[i], factors[i - 1]))
        src, dst = arrays[i - 1], arrays[i]
        out_z = _slab_for((dst.shards or dst.chunks)[0], dst.shape[1] * dst.shape[2])
        for o0, o1 in slab_ranges(dst.shape[0], out_z):
            block = src[o0 * step[0] : min(src.shape[0], o1 * step[0])]
            dst[o0:o1] = downsample_mean(block, step)  # type: ignore[arg-type]

    ms = ngff.multiscales("image", geometry.spacing_zyx, factors, method="mean")
    concord = {
        **extra,
        "format": _FORMAT,
        "geometry": geometry.to_dict(),
        "origin": list(geometry.origin),
        "dtype": dtype.str,
        "shape": list(shape),
        "sha256": h.hexdigest(),
        "levels": len(factors),
        "factors": [list(f) for f in factors],
        "layout": layout.label(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(),
    }
    # One metadata write, Concord attrs included: until it lands the group reads as incomplete.
    group.attrs.update({"ome": ngff.image_attrs(ms), "concord": concord})


def delete_volume(url: str) -> None:
    """Remove everything under ``url`` (cleanup after a failed ingest); idempotent."""
    delete_url(url)
