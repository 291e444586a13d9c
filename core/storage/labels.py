"""Label images inside a volume group (``labels/<name>``): drafts that take partial writes and
immutable versions copied from them.

Labels are uint8 (Z, Y, X) at the image's level-0 shape, one pyramid level, chunked for
one-slice edits (``LABEL_LAYOUT``). A brush stroke rewrites only the chunks it touches;
``copy_to`` copies stored chunk bytes as they are, so a version is byte-identical to its draft.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
from typing import Any

import numpy as np
import zarr
from zarr.errors import ContainsGroupError
from zarr.abc.store import Store
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync

from core.errors import Conflict, IntegrityError, InvalidInput, NotFound
from core.storage import ngff
from core.storage.chunkio import ChunkReader
from core.storage.integrity import check_region, guard_reads, sha256_array
from core.storage.layout import LABEL_LAYOUT, Layout
from core.storage.location import check_name

__all__ = ["LabelStore", "create_label_in", "open_label_in", "delete_label_in"]

_COPY_CONCURRENCY = 16


class LabelStore:
    """One label image; writable when its volume was opened "r+"."""

    def __init__(self, group: zarr.Group, url: str, name: str, *, writable: bool) -> None:
        self._group = group
        self.url = url
        self.name = name
        self._writable = writable
        self._arr: zarr.Array = group["0"]  # type: ignore[assignment]
        self._reader = ChunkReader.for_array(self._arr, group.store, url)

    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self._group.attrs)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self._arr.shape)  # type: ignore[return-value]

    @property
    def chunk_shape(self) -> tuple[int, int, int]:
        return tuple(self._arr.chunks)  # type: ignore[return-value]

    def read(self, region: tuple[slice, slice, slice] | None = None) -> np.ndarray:
        """uint8 voxels of ``region`` (Z, Y, X); chunk crc32c checked. Raises IntegrityError."""
        sel = check_region(region, self._arr.shape)
        with guard_reads(self.url, f"label {self.name}"):
            return self._reader.read(sel) if self._reader is not None else self._arr[sel]

    def write_region(self, region: tuple[slice, slice, slice], data: np.ndarray) -> None:
        """Overwrite ``region`` with ``data`` (uint8, region's shape); only the chunks it overlaps
        are read-modified-written, which is how a draft autosaves a brush stroke."""
        if not self._writable:
            raise InvalidInput(f"label {self.name} of {self.url} is read-only")
        sel = check_region(region, self._arr.shape)
        data = np.asarray(data)
        want = tuple(s.stop - s.start for s in sel)
        if data.shape != want:
            raise InvalidInput(f"data shape {data.shape} does not match region shape {want}")
        if data.dtype != np.uint8:
            if data.dtype.kind not in "biu" or (data.size and (data.min() < 0 or data.max() > 255)):
                raise InvalidInput(f"label data must be uint8-compatible integers, got {data.dtype}")
            data = data.astype(np.uint8)
        with guard_reads(self.url, f"label {self.name}"):
            if self._reader is not None and self._reader.can_write:
                self._reader.write(sel, np.ascontiguousarray(data))
            else:
                self._arr[sel] = data

    def checksum(self) -> str:
        """Hex sha256 of the label's bytes (C order, uint8), computed now."""
        return sha256_array(self._arr, url=self.url, what=f"label {self.name}", slab=max(self._arr.chunks[0], 32))

    def copy_to(self, new_name: str) -> LabelStore:
        """New label ``new_name`` with this one's stored chunk bytes; records its sha256 and origin.

        Raises:
            Conflict: ``new_name`` exists.  IntegrityError: the copy's checksum differs.
        """
        if not self._writable:
            raise InvalidInput(f"volume {self.url} was opened read-only (use mode='r+')")
        check_name(new_name)
        labels = zarr.open_group(self._group.store, path=self._group.path.rsplit("/", 1)[0], mode="r+")
        if new_name in ngff.label_names(dict(labels.attrs).get("ome")) or new_name in labels:
            raise Conflict(f"label {new_name!r} already exists in {self.url}")
        store = self._group.store
        src = f"{self._group.path}/"
        dst = f"{labels.path}/{new_name}/"
        sync(_copy_prefix(store, src, dst, skip=f"{src}zarr.json"))
        digest = self.checksum()
        attrs = self.attrs
        attrs["concord"] = {**attrs.get("concord", {}), "name": new_name, "copied_from": self.name,
                            "sha256": digest, "created": _now()}
        # group metadata last: until it exists the copy is not a label
        new_group = zarr.create_group(store, path=f"{labels.path}/{new_name}", overwrite=False, attributes=attrs)
        copy = LabelStore(new_group, self.url, new_name, writable=self._writable)
        if copy.checksum() != digest:
            raise IntegrityError(f"copy of label {self.name} to {new_name} in {self.url} differs")
        _set_label_list(labels, [*ngff.label_names(dict(labels.attrs).get("ome")), new_name])
        return copy

    def __repr__(self) -> str:
        return f"LabelStore({self.url!r}, {self.name!r})"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat()


async def _copy_prefix(store: Store, src: str, dst: str, *, skip: str) -> None:
    proto = default_buffer_prototype()
    sem = asyncio.Semaphore(_COPY_CONCURRENCY)

    async def one(key: str) -> None:
        async with sem:
            buf = await store.get(key, prototype=proto)
            if buf is not None:
                await store.set(dst + key[len(src):], buf)

    keys = [k async for k in store.list_prefix(src) if k != skip]
    await asyncio.gather(*(one(k) for k in keys))


def _labels_group(root: zarr.Group, *, create: bool) -> zarr.Group:
    try:
        return root["labels"]  # type: ignore[return-value]
    except KeyError:
        if not create:
            raise NotFound("volume has no labels") from None
        try:
            return root.create_group("labels", attributes={"ome": ngff.labels_attrs([])})
        except ContainsGroupError:  # a concurrent writer created it first
            return root["labels"]  # type: ignore[return-value]


def _set_label_list(labels: zarr.Group, names: list[str]) -> None:
    labels.attrs.update({"ome": ngff.labels_attrs(list(dict.fromkeys(names)))})


def create_label_in(
    root: zarr.Group,
    url: str,
    name: str,
    array: np.ndarray | None,
    *,
    shape: tuple[int, int, int],
    spacing_zyx: tuple[float, float, float],
    colors: dict[int, tuple[int, ...]] | None,
    source_version: str | None,
    layout: Layout | None = None,
) -> LabelStore:
    """Create ``labels/<name>`` (called by ``VolumeStore.create_label``, which documents it)."""
    check_name(name)
    if array is not None:
        array = np.asarray(array)
        if array.shape != tuple(shape):
            raise InvalidInput(f"label shape {array.shape} differs from volume shape {tuple(shape)}")
        if array.dtype != np.uint8:
            if array.dtype.kind not in "biu" or (array.size and (array.min() < 0 or array.max() > 255)):
                raise InvalidInput(f"label must be uint8-compatible integers, got {array.dtype}")
            array = array.astype(np.uint8)
    try:
        image_attrs = ngff.label_image_attrs(ngff.multiscales(name, spacing_zyx, [(1, 1, 1)], method="nearest"), colors)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    labels = _labels_group(root, create=True)
    if name in labels or name in ngff.label_names(dict(labels.attrs).get("ome")):
        raise Conflict(f"label {name!r} already exists in {url}")
    group = labels.create_group(name)
    layout = layout or LABEL_LAYOUT
    chunks, shards = layout.for_shape(shape)
    arr = group.create_array(
        "0", shape=shape, dtype=np.uint8, chunks=chunks, shards=shards, compressors=layout.compressors(),
        fill_value=0, dimension_names=("z", "y", "x"),
    )
    if array is not None:
        arr[...] = array
    group.attrs.update({
        "ome": image_attrs,
        "concord": {"name": name, "source_version": source_version, "shape": list(shape), "dtype": "|u1",
                    "created": _now()},
    })
    # The NGFF list is advisory (for other viewers) and rebuilt from the groups that exist, so
    # concurrent writers converge; Concord itself lists the groups (VolumeStore.label_names).
    _set_label_list(labels, sorted({*labels.group_keys(), name}))
    return LabelStore(group, url, name, writable=True)


def open_label_in(root: zarr.Group, url: str, name: str, *, writable: bool) -> LabelStore:
    check_name(name)
    try:
        group = root["labels"][name]
    except KeyError:
        raise NotFound(f"no label {name!r} in {url}") from None
    if "concord" not in group.attrs:
        raise IntegrityError(f"incomplete label {name!r} in {url}")
    return LabelStore(group, url, name, writable=writable)  # type: ignore[arg-type]


def delete_label_in(root: zarr.Group, store: Store, url: str, name: str) -> None:
    check_name(name)
    labels = _labels_group(root, create=False)
    names = ngff.label_names(dict(labels.attrs).get("ome"))
    if name not in names and name not in labels:
        raise NotFound(f"no label {name!r} in {url}")
    _set_label_list(labels, [n for n in names if n != name])  # unlist first: readers stop seeing it
    sync(store.delete_dir(f"{labels.path}/{name}"))
