"""Readers for single-file volumes (NIfTI, NRRD) into (Z, Y, X) arrays with LPS geometry.

Both formats store the fastest axis first (x, y, z); arrays are transposed to Concord's (Z, Y, X)
and the header geometry is converted to LPS, so the array and its Geometry mean the same as a
DICOM series read with SimpleITK.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import nrrd
import numpy as np

from core.errors import InvalidInput
from core.geometry import Geometry
from core.ingest.types import MAX_DIM, MAX_VOXELS

__all__ = [
    "NIFTI_SUFFIXES",
    "NRRD_SUFFIXES",
    "compact_dtype",
    "read_nifti",
    "read_nrrd",
    "read_volume",
    "stem",
    "volume_kind",
]

NIFTI_SUFFIXES = (".nii", ".nii.gz")
NRRD_SUFFIXES = (".nrrd", ".nhdr")

# NRRD "space" values -> sign flips turning that space's (x, y, z) into LPS.
_NRRD_SPACE_TO_LPS = {
    "left-posterior-superior": (1.0, 1.0, 1.0),
    "right-anterior-superior": (-1.0, -1.0, 1.0),
    "left-anterior-superior": (1.0, -1.0, 1.0),
    "right-posterior-superior": (-1.0, 1.0, 1.0),
    "lps": (1.0, 1.0, 1.0),
    "ras": (-1.0, -1.0, 1.0),
    "las": (1.0, -1.0, 1.0),
    "scanner-xyz": (1.0, 1.0, 1.0),
    "3d-right-handed": (1.0, 1.0, 1.0),
}


def volume_kind(path: Path) -> str | None:
    """"nifti", "nrrd" or None, by file name (these formats have no reliable magic in gzip)."""
    name = path.name.lower()
    if name.endswith(NIFTI_SUFFIXES):
        return "nifti"
    if name.endswith(NRRD_SUFFIXES):
        return "nrrd"
    return None


def stem(path: Path) -> str:
    """File name without .nii.gz / .nii / .nrrd / .nhdr."""
    name = path.name
    for suffix in (".nii.gz", ".nii", ".nrrd", ".nhdr"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _check_shape(path: Path, shape: tuple[int, ...]) -> None:
    if len(shape) != 3:
        raise InvalidInput(f"{path.name}: expected a 3D volume, got {len(shape)}D with shape {shape}")
    if min(shape) <= 0:
        raise InvalidInput(f"{path.name}: volume has a zero dimension, shape {shape}")
    if max(shape) > MAX_DIM or int(np.prod(shape, dtype=np.int64)) > MAX_VOXELS:
        raise InvalidInput(
            f"{path.name}: absurd dimensions {shape} (limit {MAX_DIM} per axis, {MAX_VOXELS} voxels)"
        )


def compact_dtype(array: np.ndarray) -> np.ndarray:
    """Smallest exact Concord dtype: uint8/int16 kept; other integers to int16 when they fit;
    everything else float32.
    """
    if array.dtype in (np.uint8, np.int16):
        return array
    if np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
        if array.size == 0 or (array.min() >= -32768 and array.max() <= 32767):
            return array.astype(np.int16)
    return array.astype(np.float32)


def _geometry(path: Path, spacing, origin, direction) -> Geometry:
    try:
        return Geometry(
            spacing=tuple(float(s) for s in spacing),  # type: ignore[arg-type]
            origin=tuple(float(o) for o in origin),  # type: ignore[arg-type]
            direction=tuple(float(d) for d in np.asarray(direction).reshape(-1)),
        )
    except ValueError as err:
        raise InvalidInput(f"{path.name}: invalid geometry: {err}") from err


def read_nifti(path: Path) -> tuple[np.ndarray, Geometry]:
    """Read a .nii/.nii.gz file.

    Returns:
        ``(array, geometry)``: array (Z, Y, X), scl_slope/inter applied; geometry from the
        affine nibabel chooses (sform, else qform), converted to LPS.

    Raises:
        InvalidInput: unreadable or truncated file, not 3D, zero/absurd dimensions, NaN/inf in
            the affine, zero/negative spacing, sheared axes.
    """
    path = Path(path)
    try:
        img = nib.load(str(path))
    except Exception as err:  # nibabel raises many types for corrupt headers
        raise InvalidInput(f"{path.name}: unreadable NIfTI ({err})") from err
    shape = tuple(int(s) for s in img.shape)
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    _check_shape(path, shape)
    affine = np.asarray(img.affine, dtype=np.float64)
    if not np.all(np.isfinite(affine)):
        raise InvalidInput(f"{path.name}: affine contains NaN or inf")
    zooms = tuple(np.linalg.norm(affine[:3, :3], axis=0)) + tuple(img.header.get_zooms()[:3])
    if any(not np.isfinite(z) or z <= 1e-9 for z in zooms):
        raise InvalidInput(f"{path.name}: zero or negative spacing {tuple(float(z) for z in zooms[:3])}")
    try:
        geometry = Geometry.from_nifti_affine(affine)
    except ValueError as err:
        raise InvalidInput(f"{path.name}: invalid geometry in affine: {err}") from err
    try:
        data = np.asanyarray(img.dataobj)
    except Exception as err:
        raise InvalidInput(f"{path.name}: truncated or unreadable voxel data ({err})") from err
    data = data.reshape(shape)
    if np.issubdtype(data.dtype, np.floating) and not np.all(np.isfinite(data)):
        raise InvalidInput(f"{path.name}: voxel data contains NaN or inf")
    return np.ascontiguousarray(compact_dtype(data).transpose(2, 1, 0)), geometry


def read_nrrd(path: Path) -> tuple[np.ndarray, Geometry]:
    """Read a .nrrd/.nhdr file (detached data resolved by pynrrd).

    Returns:
        ``(array, geometry)``: array (Z, Y, X); geometry from ``space directions``/``space
        origin`` converted to LPS, or from ``spacings`` with identity direction.

    Raises:
        InvalidInput: as :func:`read_nifti`, plus an unknown ``space``.
    """
    path = Path(path)
    try:
        data, header = nrrd.read(str(path), index_order="F")
    except Exception as err:
        raise InvalidInput(f"{path.name}: unreadable NRRD ({err})") from err
    _check_shape(path, tuple(int(s) for s in data.shape))
    space = str(header.get("space", "left-posterior-superior")).lower()
    if space not in _NRRD_SPACE_TO_LPS:
        raise InvalidInput(f"{path.name}: unsupported NRRD space {space!r}")
    flip = np.asarray(_NRRD_SPACE_TO_LPS[space])
    if header.get("space directions") is not None:
        dirs = np.asarray(header["space directions"], dtype=np.float64)  # rows: axis vectors
        if dirs.shape != (3, 3):
            raise InvalidInput(f"{path.name}: space directions must be 3 vectors, got {dirs.shape}")
        if not np.all(np.isfinite(dirs)):
            raise InvalidInput(f"{path.name}: space directions contain NaN or inf (or 'none')")
        cols = (dirs * flip).T  # columns: LPS vectors of axes x, y, z
        spacing = np.linalg.norm(cols, axis=0)
        if np.any(spacing <= 0):
            raise InvalidInput(f"{path.name}: zero or negative spacing {tuple(spacing)}")
        direction = cols / spacing
    else:
        spacing = np.asarray(header.get("spacings", (1.0, 1.0, 1.0)), dtype=np.float64)
        if spacing.shape != (3,) or not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
            raise InvalidInput(f"{path.name}: zero, negative or invalid spacing {tuple(spacing)}")
        direction = np.eye(3)
    origin = np.asarray(header.get("space origin", (0.0, 0.0, 0.0)), dtype=np.float64) * flip
    if not np.all(np.isfinite(origin)):
        raise InvalidInput(f"{path.name}: space origin contains NaN or inf")
    geometry = _geometry(path, spacing, origin, direction)
    if np.issubdtype(data.dtype, np.floating) and not np.all(np.isfinite(data)):
        raise InvalidInput(f"{path.name}: voxel data contains NaN or inf")
    return np.ascontiguousarray(compact_dtype(data).transpose(2, 1, 0)), geometry


def read_volume(path: Path) -> tuple[np.ndarray, Geometry]:
    """Dispatch on the file name to :func:`read_nifti` or :func:`read_nrrd`."""
    kind = volume_kind(Path(path))
    if kind == "nifti":
        return read_nifti(path)
    if kind == "nrrd":
        return read_nrrd(path)
    raise InvalidInput(f"{Path(path).name}: not a NIfTI or NRRD file")
