"""Concord's volume store: one OME-Zarr (NGFF 0.5, zarr v3) group per volume, addressed by an
fsspec URL (local path, file://, s3://, memory://). Pure Python: no Django import here.

Atomic publish. A volume is written under a fresh URL from ``new_volume_url`` that no database row
points at yet; the caller (a Django service) publishes it by saving the URL in one database
transaction, so a reader never sees half a volume. A failed write is removed with
``delete_volume(url)``. Within the group, ``attrs["concord"]`` is written last, so
``open_volume`` of a half-written group raises ``IntegrityError("incomplete volume ...")``.

Integrity. Each chunk ends with a crc32c (zarr v3 codec) checked on every read; level 0 also has
a whole-volume sha256 (``VolumeStore.verify``). Failures raise ``core.errors.IntegrityError``.

Labels live under ``labels/<name>``: drafts take partial writes (``LabelStore.write_region``),
immutable versions are chunk-byte copies (``LabelStore.copy_to``).
"""

from __future__ import annotations

from core.storage.labels import LabelStore
from core.storage.layout import IMAGE_LAYOUT, LABEL_LAYOUT, Layout
from core.storage.location import new_volume_url
from core.storage.volume import VolumeStore, create_volume, delete_volume, open_volume

__all__ = [
    "VolumeStore",
    "LabelStore",
    "Layout",
    "IMAGE_LAYOUT",
    "LABEL_LAYOUT",
    "open_volume",
    "create_volume",
    "delete_volume",
    "new_volume_url",
]
