"""Reading published volumes for the API: slices, window/level, raw chunks."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from core.errors import InvalidInput
from core.models import Volume
from core.storage import VolumeStore, open_volume

__all__ = ["WINDOW_PRESETS", "open_published", "read_slice", "render_png", "window_for"]

# (width, center) in HU; "auto" uses the slice's 1st-99th percentiles (MRI).
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "lung": (1500.0, -600.0),
    "soft_tissue": (400.0, 40.0),
    "bone": (1800.0, 400.0),
    "brain": (80.0, 40.0),
}
_AXES = {"axial": 0, "coronal": 1, "sagittal": 2}


def open_published(volume: Volume) -> VolumeStore:
    return open_volume(volume.store_url, mode="r")


def read_slice(volume: Volume, *, axis: str, index: int | None, level: int = 0) -> np.ndarray:
    """One 2D slice of a level, reading only the chunks it crosses. Default index: the middle."""
    store = open_published(volume)
    if not 0 <= level < store.levels:
        raise InvalidInput(f"level {level} out of range: the volume has {store.levels} levels")
    n = store.shape(level)[_AXES[axis]]
    index = n // 2 if index is None else index
    if not 0 <= index < n:
        raise InvalidInput(f"{axis} index {index} out of range 0..{n - 1} at level {level}")
    return store.read_slice(axis, index, level=level)


def window_for(plane: np.ndarray, *, preset: str | None, width: float | None, center: float | None,
               modality: str) -> tuple[float, float]:
    """Pick window width/center: explicit values, a named preset, CT soft tissue, or percentiles."""
    if width is not None and center is not None:
        return width, center
    if preset and preset != "auto":
        return WINDOW_PRESETS[preset]
    if modality == "CT" and preset != "auto":
        return WINDOW_PRESETS["soft_tissue"]
    lo, hi = np.percentile(plane, [1, 99]) if plane.size else (0.0, 1.0)
    return float(max(hi - lo, 1e-6)), float((hi + lo) / 2)


def render_png(plane: np.ndarray, *, width: float, center: float, flip_vertical: bool = False) -> bytes:
    """8-bit grey PNG of a (rows, cols) plane under a window."""
    lo = center - width / 2
    img = np.clip((plane.astype(np.float32) - lo) * (255.0 / width), 0, 255).astype(np.uint8)
    if flip_vertical:
        img = img[::-1]
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
