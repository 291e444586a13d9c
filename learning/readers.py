"""Adapters from the volume store to the numerical core's ``VolumeReader`` protocol.

The numerical code owns its inputs (a reader protocol); this module, on the Django side of
``learning/``, wires ``core/storage`` in. Reads touch only the chunks of the requested region.
"""

from __future__ import annotations

import numpy as np

from core.storage import LabelStore, VolumeStore
from learning.types import Region, Shape3, Spacing

__all__ = ["StoreImageReader", "StoreLabelReader"]


class StoreImageReader:
    """Level-0 voxels of a stored image, as float32 (Z, Y, X)."""

    def __init__(self, store: VolumeStore) -> None:
        self._store = store

    @property
    def shape(self) -> Shape3:
        return tuple(self._store.shape(0))  # type: ignore[return-value]

    @property
    def spacing(self) -> Spacing:
        return tuple(self._store.geometry.spacing)  # type: ignore[return-value]

    def read(self, region: Region) -> np.ndarray:
        return self._store.read(0, region).astype(np.float32, copy=False)


class StoreLabelReader:
    """A stored label image (uint8 class indices)."""

    def __init__(self, label: LabelStore, spacing: Spacing) -> None:
        self._label, self._spacing = label, spacing

    @property
    def shape(self) -> Shape3:
        return tuple(self._label.shape)  # type: ignore[return-value]

    @property
    def spacing(self) -> Spacing:
        return self._spacing

    def read(self, region: Region) -> np.ndarray:
        return self._label.read(region)
