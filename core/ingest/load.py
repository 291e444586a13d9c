"""Turn a discovered source into de-identified ImageData, and label files into masks.

Side-effect free and picklable (module-level functions, plain arguments), so the ingest service
can map :func:`load_series` over many sources with Dask.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import InvalidInput
from core.ingest.deid import pseudonym
from core.ingest.dicom import load_dicom_series
from core.ingest.types import ImageData, SeriesSource
from core.ingest.volumes import read_volume

__all__ = ["load_series", "load_label", "ORIGIN_ATOL_MM", "SPACING_RTOL", "DIRECTION_ATOL", "MAX_LABEL"]

ORIGIN_ATOL_MM = 1e-3
SPACING_RTOL = 1e-4
DIRECTION_ATOL = 1e-4
MAX_LABEL = 255


def load_series(source: SeriesSource, *, key: bytes) -> ImageData:
    """Read and de-identify one source.

    Args:
        source: from :func:`core.ingest.discover.discover`.
        key: project secret for pseudonyms and UIDs (HMAC-SHA256).

    Returns:
        ImageData; attributes merge the DICOM attributes (if any) with the manifest row. A
        manifest patient id column only feeds ``patient_pseudonym``.

    Raises:
        InvalidInput: naming the file and the problem (see the readers).
    """
    extra = dict(source.attributes)
    pid = extra.pop("_patient_id", None)
    name = source.source_name or source.case_key
    if source.kind == "dicom":
        return load_dicom_series(source.files, key=key, source_name=name, extra_attributes=source.attributes)
    if len(source.files) != 1:
        raise InvalidInput(f"{name}: a {source.kind} source must be one file, got {len(source.files)}")
    array, geometry = read_volume(source.files[0])
    return ImageData(
        array=array,
        geometry=geometry,
        source_format=source.kind,
        modality=None,
        attributes=extra,
        patient_pseudonym=pseudonym(str(pid), key=key, prefix="P-") if pid else None,
        dicom_headers=[],
        source_name=name,
    )


def load_label(path: Path, like: ImageData) -> np.ndarray:
    """Read a label volume that must lie on the grid of ``like``.

    Returns:
        uint8 (Z, Y, X) array with the same shape as ``like.array``.

    Raises:
        InvalidInput: naming the file: unreadable, different shape, geometry differing beyond
            the tolerances (origin 1e-3 mm, spacing 1e-4 relative, direction 1e-4), non-integer,
            negative or too large (> 255) values.
    """
    path = Path(path)
    array, geometry = read_volume(path)
    if array.shape != like.array.shape:
        raise InvalidInput(
            f"{path.name}: label shape {array.shape} (Z, Y, X) does not match the image "
            f"shape {like.array.shape}"
        )
    g, h = geometry, like.geometry
    if not np.allclose(g.spacing, h.spacing, rtol=SPACING_RTOL, atol=0):
        raise InvalidInput(f"{path.name}: label spacing {g.spacing} does not match the image {h.spacing}")
    if not np.allclose(g.origin, h.origin, atol=ORIGIN_ATOL_MM, rtol=0):
        raise InvalidInput(f"{path.name}: label origin {g.origin} does not match the image {h.origin}")
    if not np.allclose(g.direction, h.direction, atol=DIRECTION_ATOL, rtol=0):
        raise InvalidInput(
            f"{path.name}: label direction {g.direction} does not match the image {h.direction}"
        )
    if np.issubdtype(array.dtype, np.floating) and not np.all(array == np.round(array)):
        raise InvalidInput(f"{path.name}: label has non-integer values")
    if array.size and array.min() < 0:
        raise InvalidInput(f"{path.name}: label has negative values (min {array.min()})")
    if array.size and array.max() > MAX_LABEL:
        raise InvalidInput(f"{path.name}: label values up to {array.max()} exceed {MAX_LABEL}")
    return array.astype(np.uint8)
