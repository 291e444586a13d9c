"""Builders of small synthetic DICOM / NIfTI inputs for the ingest tests."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from core.geometry import Geometry

ROW = (1.0, 0.0, 0.0)
COL = (0.0, 1.0, 0.0)


def make_slice(
    position: tuple[float, float, float],
    *,
    pixels: np.ndarray,
    series_uid: str,
    orientation: tuple[float, ...] = ROW + COL,
    pixel_spacing: tuple[float, float] = (0.7, 0.6),
    slope: float = 1.0,
    intercept: float = -1024.0,
    **extra: object,
) -> Dataset:
    """One CT slice with the given position and raw uint16 pixels (rows, columns)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    sop = generate_uid()
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = "1.2.3.4"
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = "1.2.3.5"
    ds.Modality = "CT"
    ds.PatientID = "PID-12345"
    ds.ImagePositionPatient = [float(v) for v in position]
    ds.ImageOrientationPatient = [float(v) for v in orientation]
    ds.PixelSpacing = [float(v) for v in pixel_spacing]
    ds.SliceThickness = 3.0
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.RescaleSlope = slope
    ds.RescaleIntercept = intercept
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    for k, v in extra.items():
        setattr(ds, k, v)
    return ds


def write_series(
    folder: Path,
    *,
    n: int = 5,
    shape: tuple[int, int] = (6, 8),
    spacing_z: float = 2.5,
    orientation: tuple[float, ...] = ROW + COL,
    origin: tuple[float, float, float] = (-10.0, 20.0, 30.0),
    positions: list[tuple[float, float, float]] | None = None,
    seed: int = 0,
    names: list[str] | None = None,
    per_slice: dict[int, dict] | None = None,
) -> tuple[list[Path], np.ndarray]:
    """Write an n-slice series in shuffled file-name order.

    Returns:
        (files, expected raw pixels (Z, Y, X) in position order along the normal).
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 3000, size=(n, *shape)).astype(np.uint16)
    normal = np.cross(orientation[:3], orientation[3:])
    if positions is None:
        positions = [tuple(np.asarray(origin) + k * spacing_z * normal) for k in range(n)]
    uid = generate_uid()
    order = rng.permutation(n)  # file names unrelated to positions
    files = []
    for k in range(n):
        ds = make_slice(
            positions[k],
            pixels=raw[k],
            series_uid=uid,
            orientation=orientation,
            InstanceNumber=int(order[k]) + 1,
            **(per_slice or {}).get(k, {}),
        )
        name = names[k] if names else f"img{order[k]:03d}.dcm"
        path = folder / name
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return files, raw


def write_nifti(path: Path, array_xyz: np.ndarray, affine: np.ndarray | None = None) -> Path:
    """Write an (X, Y, Z...) array with the given RAS affine (default 1 mm identity)."""
    nib.save(nib.Nifti1Image(array_xyz, np.eye(4) if affine is None else affine), path)
    return path


def geometry_of(spacing=(1.0, 1.0, 1.0)) -> Geometry:
    return Geometry(spacing=spacing)


