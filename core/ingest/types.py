"""Plain records passed between discovery, loading and the Django ingest service.

Pure module: no Django, no I/O. Both records are frozen (hashable where their fields are) and
picklable, so the service can ship them to Dask workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pydicom

from core.geometry import Geometry

__all__ = ["ImageData", "SeriesSource", "SourceKind", "MAX_DIM", "MAX_VOXELS"]

SourceKind = Literal["dicom", "nifti", "nrrd"]

#: Largest accepted size of one axis (voxels); anything above is taken for a corrupt header.
MAX_DIM = 4096
#: Largest accepted voxel count of one volume.
MAX_VOXELS = 2**31


@dataclass(frozen=True)
class SeriesSource:
    """One image found by :func:`core.ingest.discover.discover`, not yet read.

    Attributes:
        kind: file format of the image.
        files: the image's files; several for a single-frame DICOM series (unordered:
            order comes from positions at load time), one otherwise.
        series_uid: original SeriesInstanceUID (DICOM only; "" when the files carry none).
        case_key: case folder name, or the file stem / "series-<n>" for loose images.
        label_files: rater or label name -> label volume file of the same grid.
        attributes: case attributes from a manifest.csv row (numbers parsed).
        source_name: PHI-free name to show and store (relative path, or "series-<n>").
    """

    kind: SourceKind
    files: tuple[Path, ...]
    series_uid: str | None = None
    case_key: str = ""
    label_files: dict[str, Path] = field(default_factory=dict)
    attributes: dict = field(default_factory=dict)
    source_name: str = ""


@dataclass(frozen=True)
class ImageData:
    """A loaded, de-identified volume, ready for the store.

    Attributes:
        array: (Z, Y, X) voxels: int16 when the rescaled values are exact integers in its range
            (CT in HU), uint8/int16 NIfTI kept as is, float32 otherwise.
        geometry: spacing/origin (x, y, z) mm and direction in LPS (see ``core.geometry``).
        source_format: "dicom", "nifti" or "nrrd".
        modality: DICOM Modality ("CT", "MR"...) or None.
        attributes: de-identified case attributes (sex, age in years, manufacturer, model,
            site pseudonym, contrast, slice_thickness mm, kvp, convolution_kernel, body_part),
            merged with the manifest row; never dates, names or IDs.
        patient_pseudonym: "P-" + 16 hex chars of HMAC-SHA256(key, PatientID), or None.
        dicom_headers: de-identified headers without PixelData, one per slice in array order
            (one per file for enhanced multi-frame); empty for NIfTI/NRRD.
        source_name: PHI-free name of the source.
    """

    array: np.ndarray
    geometry: Geometry
    source_format: SourceKind
    modality: str | None = None
    attributes: dict = field(default_factory=dict)
    patient_pseudonym: str | None = None
    dicom_headers: list[pydicom.Dataset] = field(default_factory=list)
    source_name: str = ""
