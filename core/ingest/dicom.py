"""DICOM series -> (Z, Y, X) volume with LPS geometry, matching SimpleITK's ImageSeriesReader.

Slices are ordered by the projection of ImagePositionPatient on the slice normal (row cosine x
column cosine), never by file name or InstanceNumber, which scanners and PACS exports do not keep
consistent. Slice spacing comes from those positions, not SliceThickness (which differs for
overlapping or gapped reconstructions). Both classic single-frame series and enhanced multi-frame
objects (functional groups) are read into the same per-frame records and checked alike.
"""

from __future__ import annotations

from dataclasses import dataclass
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from core.errors import InvalidInput
from core.geometry import Geometry
from core.ingest.deid import UidMap, case_attributes, deidentify, pseudonym
from core.ingest.types import MAX_DIM, MAX_VOXELS, ImageData

__all__ = ["is_dicom", "read_dicom_header", "load_dicom_series", "SPACING_RTOL", "GAP_FACTOR"]

#: Relative tolerance on slice-to-slice spacing before a series counts as non-uniform.
SPACING_RTOL = 0.01
#: A gap larger than this many median spacings is reported as missing slices.
GAP_FACTOR = 1.5
_COSINE_ATOL = 1e-4


def is_dicom(path: Path) -> bool:
    """True if ``path`` holds DICOM: 'DICM' at byte 128, or a force-read finds image attributes.

    The fallback accepts headerless (ACR-NEMA style) files only when they carry Rows, Columns
    and a Modality or SOPClassUID, so text or raw data is not mistaken for DICOM.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    if len(head) == 132 and head[128:132] == b"DICM":
        return True
    if len(head) < 8 or head[:1] not in (b"\x02", b"\x08", b"\x10", b"\x18", b"\x20", b"\x28"):
        return False
    try:
        ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
        return "Rows" in ds and "Columns" in ds and ("Modality" in ds or "SOPClassUID" in ds)
    except Exception:
        return False


def read_dicom_header(path: Path) -> Dataset:
    """Header only (no pixel data), for grouping; InvalidInput naming the file if unreadable."""
    try:
        return pydicom.dcmread(path, force=True, stop_before_pixels=True)
    except Exception as err:
        raise InvalidInput(f"{Path(path).name}: unreadable or corrupt DICOM file ({err})") from err


@dataclass
class _Frame:
    """One 2D image of a series: where it is, how big, and how to rescale it."""

    where: str  # file name (and frame number) for messages
    position: np.ndarray  # (3,) LPS mm
    orientation: np.ndarray  # (6,) row cosine, column cosine
    pixel_spacing: tuple[float, float]  # (row spacing = y, column spacing = x) mm
    rows: int
    columns: int
    slope: float
    intercept: float
    pixels: np.ndarray | None  # (rows, columns) raw stored values
    header_index: int


def _floats(value: object, n: int, where: str, name: str) -> np.ndarray:
    try:
        arr = np.asarray([float(v) for v in value], dtype=np.float64)  # type: ignore[union-attr]
    except (TypeError, ValueError) as err:
        raise InvalidInput(f"{where}: {name} is missing or not numeric") from err
    if arr.shape != (n,) or not np.all(np.isfinite(arr)):
        raise InvalidInput(f"{where}: {name} must be {n} finite numbers, got {value!r}")
    return arr


def _first(ds: Dataset | None, seq: str, keyword: str) -> object | None:
    if ds is None or seq not in ds or not ds[seq].value:
        return None
    return ds[seq].value[0].get(keyword)


def _pixels(ds: Dataset, where: str) -> np.ndarray:
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        raise InvalidInput(f"{where}: colour images (SamplesPerPixel > 1) are not supported")
    if "PixelData" not in ds:
        raise InvalidInput(f"{where}: no pixel data")
    decoded = getattr(ds, "_concord_pixels", None)
    if decoded is not None:
        return decoded
    try:
        return ds.pixel_array
    except Exception as err:
        msg = str(err)
        low = msg.lower()
        problem = (
            "truncated pixel data"
            if any(w in low for w in ("length", "truncat", "less than expected"))
            else "pixel data cannot be decoded"
        )
        raise InvalidInput(f"{where}: {problem} ({msg})") from err


def _frames_of(ds: Dataset, name: str, header_index: int) -> list[_Frame]:
    """Per-frame records of one file: one for a classic image, n for enhanced multi-frame."""
    rows, columns = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    if rows <= 0 or columns <= 0 or rows > MAX_DIM or columns > MAX_DIM:
        raise InvalidInput(
            f"{name}: corrupt DICOM file or not an image: invalid Rows/Columns {rows}x{columns}"
        )
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    if "PerFrameFunctionalGroupsSequence" in ds:
        pixels = _pixels(ds, name)
        if n_frames == 1:
            pixels = pixels[None]
        shared = ds.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in ds else None
        per_frame = ds.PerFrameFunctionalGroupsSequence
        if len(per_frame) != n_frames or pixels.shape[0] != n_frames:
            raise InvalidInput(
                f"{name}: {n_frames} frames declared, {len(per_frame)} functional groups, "
                f"{pixels.shape[0]} frames of pixel data"
            )
        frames = []
        for i, group in enumerate(per_frame):
            where = f"{name} frame {i + 1}"

            def look(seq: str, kw: str, group: Dataset = group) -> object | None:
                v = _first(group, seq, kw)
                return v if v is not None else _first(shared, seq, kw)

            ipp = look("PlanePositionSequence", "ImagePositionPatient")
            iop = look("PlaneOrientationSequence", "ImageOrientationPatient")
            ps = look("PixelMeasuresSequence", "PixelSpacing")
            slope = look("PixelValueTransformationSequence", "RescaleSlope")
            intercept = look("PixelValueTransformationSequence", "RescaleIntercept")
            frames.append(
                _Frame(
                    where=where,
                    position=_floats(ipp, 3, where, "ImagePositionPatient"),
                    orientation=_floats(iop, 6, where, "ImageOrientationPatient"),
                    pixel_spacing=tuple(_floats(ps, 2, where, "PixelSpacing")),  # type: ignore[arg-type]
                    rows=rows,
                    columns=columns,
                    slope=float(slope if slope not in (None, "") else ds.get("RescaleSlope", 1) or 1),
                    intercept=float(
                        intercept if intercept not in (None, "") else ds.get("RescaleIntercept", 0) or 0
                    ),
                    pixels=pixels[i],
                    header_index=header_index,
                )
            )
        return frames
    if n_frames != 1:
        raise InvalidInput(f"{name}: multi-frame file without functional groups is not supported")
    pixels = _pixels(ds, name)
    if pixels.shape != (rows, columns):
        raise InvalidInput(f"{name}: pixel data shape {pixels.shape} does not match {rows}x{columns}")
    return [
        _Frame(
            where=name,
            position=_floats(ds.get("ImagePositionPatient"), 3, name, "ImagePositionPatient"),
            orientation=_floats(ds.get("ImageOrientationPatient"), 6, name, "ImageOrientationPatient"),
            pixel_spacing=tuple(_floats(ds.get("PixelSpacing"), 2, name, "PixelSpacing")),  # type: ignore[arg-type]
            rows=rows,
            columns=columns,
            slope=float(ds.get("RescaleSlope", 1) or 1),
            intercept=float(ds.get("RescaleIntercept", 0) or 0),
            pixels=pixels,
            header_index=header_index,
        )
    ]


def _check_consistent(frames: list[_Frame], series: str) -> None:
    ref = frames[0]
    row, col = ref.orientation[:3], ref.orientation[3:]
    if (
        abs(np.linalg.norm(row) - 1) > 1e-3
        or abs(np.linalg.norm(col) - 1) > 1e-3
        or abs(float(row @ col)) > 1e-3
    ):
        raise InvalidInput(f"{ref.where}: ImageOrientationPatient is not two orthonormal cosines")
    if any(s <= 0 for s in ref.pixel_spacing):
        raise InvalidInput(f"{ref.where}: zero or negative PixelSpacing {ref.pixel_spacing}")
    for f in frames[1:]:
        if not np.allclose(f.orientation, ref.orientation, atol=_COSINE_ATOL):
            raise InvalidInput(
                f"{f.where}: mixed orientations in {series} "
                f"({list(f.orientation)} vs {list(ref.orientation)} in {ref.where})"
            )
        if (f.rows, f.columns) != (ref.rows, ref.columns):
            raise InvalidInput(
                f"{f.where}: mixed rows/columns in {series} "
                f"({f.rows}x{f.columns} vs {ref.rows}x{ref.columns} in {ref.where})"
            )
        if not np.allclose(f.pixel_spacing, ref.pixel_spacing, rtol=1e-4, atol=1e-6):
            raise InvalidInput(
                f"{f.where}: mixed pixel spacing in {series} "
                f"({f.pixel_spacing} vs {ref.pixel_spacing} in {ref.where})"
            )


def _order(frames: list[_Frame], series: str) -> tuple[list[_Frame], np.ndarray, float]:
    """Sort by position along the normal; check duplicates, gaps, uniformity, tilt.

    Returns:
        ``(frames sorted, direction (3, 3) with columns row/col/normal, z spacing mm)``.
    """
    if len(frames) < 2:
        raise InvalidInput(
            f"{frames[0].where}: single-slice series in {series}: cannot compute the slice "
            "spacing from one position"
        )
    row, col = frames[0].orientation[:3], frames[0].orientation[3:]
    normal = np.cross(row, col)
    normal /= np.linalg.norm(normal)
    proj = np.array([f.position @ normal for f in frames])
    idx = np.argsort(proj, kind="stable")
    frames = [frames[i] for i in idx]
    proj = proj[idx]
    diffs = np.diff(proj)
    scale = max(abs(proj[-1] - proj[0]), 1.0)
    for k, d in enumerate(diffs):
        if d < 1e-4 * scale:
            raise InvalidInput(
                f"{frames[k + 1].where}: duplicate slice in {series}: same position as "
                f"{frames[k].where} ({list(np.round(frames[k].position, 4))})"
            )
    spacing = float(np.median(diffs))
    for k, d in enumerate(diffs):
        if d > GAP_FACTOR * spacing:
            raise InvalidInput(
                f"{frames[k + 1].where}: missing slices in {series}: gap of {d:.4g} mm after "
                f"{frames[k].where}, median spacing {spacing:.4g} mm"
            )
        if abs(d - spacing) > SPACING_RTOL * spacing:
            raise InvalidInput(
                f"{frames[k + 1].where}: non-uniform slice spacing in {series}: {d:.4g} mm after "
                f"{frames[k].where}, median {spacing:.4g} mm"
            )
    # Positions must lie on the normal through the first slice: otherwise the axes are sheared
    # (gantry tilt) and no orthonormal direction describes the grid.
    offsets = np.array([f.position - frames[0].position for f in frames])
    inplane = offsets - np.outer(offsets @ normal, normal)
    worst = int(np.argmax(np.linalg.norm(inplane, axis=1)))
    if np.linalg.norm(inplane[worst]) > max(0.01 * spacing, 1e-3) * max(worst, 1):
        raise InvalidInput(
            f"{frames[worst].where}: slice positions in {series} do not lie along the slice "
            "normal (gantry tilt or sheared series is not supported)"
        )
    direction = np.column_stack([row, col, normal])
    return frames, direction, spacing


def _rescale(frames: list[_Frame]) -> np.ndarray:
    """Stack frames (Z, Y, X) and apply slope/intercept: int16 when exact, else float32."""
    raw = np.stack([f.pixels for f in frames])  # type: ignore[misc]
    slopes = np.array([f.slope for f in frames])
    intercepts = np.array([f.intercept for f in frames])
    if np.all(slopes == np.round(slopes)) and np.all(intercepts == np.round(intercepts)):
        wide = raw.astype(np.int64) * slopes.astype(np.int64)[:, None, None] + intercepts.astype(
            np.int64
        )[:, None, None]
        if wide.size == 0 or (wide.min() >= -32768 and wide.max() <= 32767):
            return wide.astype(np.int16)
    out = raw.astype(np.float64) * slopes[:, None, None] + intercepts[:, None, None]
    return out.astype(np.float32)


def _gdcm_pixels(path: Path, ds: Dataset) -> np.ndarray | None:
    """Stored values of a compressed single-frame image decoded by GDCM (through SimpleITK),
    which is several times faster than pydicom's Python decoders for JPEG 2000 / JPEG-LS.

    GDCM applies the rescale; with slope 1 and an integer intercept the stored values come back
    exactly as ``value - intercept``. Anything else (or any failure) returns None: pydicom decodes.
    """
    meta = getattr(ds, "file_meta", None)
    syntax = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    if syntax is None or not syntax.is_compressed or int(ds.get("NumberOfFrames", 1) or 1) != 1:
        return None
    slope, intercept = float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0)
    if slope != 1.0 or intercept != round(intercept) or int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        return None
    try:
        import SimpleITK as sitk

        reader = sitk.ImageFileReader()
        reader.SetImageIO("GDCMImageIO")
        reader.SetFileName(str(path))
        values = sitk.GetArrayFromImage(reader.Execute())[0]
    except Exception:
        return None
    rows, columns = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    if values.shape != (rows, columns):
        return None
    return (values.astype(np.int64) - int(intercept)).astype(np.int32)


def _read_one(path: Path, index: int) -> tuple[Dataset, list[_Frame]]:
    try:
        ds = pydicom.dcmread(path, force=True)
    except Exception as err:
        raise InvalidInput(f"{path.name}: unreadable or corrupt DICOM file ({err})") from err
    ds._concord_pixels = _gdcm_pixels(path, ds)
    return ds, _frames_of(ds, path.name, index)


def load_dicom_series(
    files: tuple[Path, ...] | list[Path],
    *,
    key: bytes,
    source_name: str,
    extra_attributes: dict | None = None,
) -> ImageData:
    """Read one series (single-frame files, or one enhanced multi-frame file) into ImageData.

    Args:
        files: the series' files, in any order.
        key: project secret for pseudonyms and UIDs.
        source_name: PHI-free name to record ("series-<n>").
        extra_attributes: manifest attributes merged over the DICOM ones.

    Returns:
        ImageData with array (Z, Y, X) in rescaled units, LPS geometry whose origin is the first
        slice along the normal, de-identified attributes and headers (without PixelData), one
        header per slice in array order (one per file for multi-frame).

    Raises:
        InvalidInput: naming the file (and frame) and the problem: unreadable file, truncated
            pixel data, mixed series/orientation/size/pixel spacing, single slice, duplicate or
            missing slices, non-uniform spacing, tilted grid, absurd sizes.
    """
    if not files:
        raise InvalidInput(f"{source_name}: DICOM series without files")
    datasets: list[Dataset] = []
    frames: list[_Frame] = []
    series_uids: set[str] = set()
    paths = sorted(Path(p) for p in files)
    # Decoding (JPEG 2000 and friends) releases the GIL: read the files on a few threads.
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) + 2)) as pool:
        read = list(pool.map(_read_one, paths, range(len(paths))))
    for path, (ds, file_frames) in zip(paths, read):
        series_uids.add(str(ds.get("SeriesInstanceUID", "") or ""))
        if len(series_uids) > 1:
            raise InvalidInput(f"{path.name}: belongs to another series than the rest of {source_name}")
        frames.extend(file_frames)
        datasets.append(ds)
    multi = any("PerFrameFunctionalGroupsSequence" in ds for ds in datasets)
    if multi and len(datasets) > 1:
        raise InvalidInput(f"{datasets[0].filename and Path(datasets[0].filename).name}: enhanced "
                           f"multi-frame series split over {len(datasets)} files is not supported")
    _check_consistent(frames, source_name)
    frames, direction, z_spacing = _order(frames, source_name)
    shape = (len(frames), frames[0].rows, frames[0].columns)
    if max(shape) > MAX_DIM or int(np.prod(shape, dtype=np.int64)) > MAX_VOXELS:
        raise InvalidInput(f"{frames[0].where}: absurd dimensions {shape} in {source_name}")
    array = _rescale(frames)
    row_spacing, col_spacing = frames[0].pixel_spacing
    geometry = Geometry(
        spacing=(float(col_spacing), float(row_spacing), z_spacing),
        origin=tuple(float(v) for v in frames[0].position),  # type: ignore[arg-type]
        direction=tuple(float(v) for v in direction.reshape(-1)),
    )

    first = datasets[frames[0].header_index]
    attributes = case_attributes(first, key=key)
    attributes.update({k: v for k, v in (extra_attributes or {}).items() if not k.startswith("_")})
    pid = str(first.get("PatientID", "") or "").strip() or (extra_attributes or {}).get("_patient_id")
    uid_map = UidMap(key)
    order = [f.header_index for f in frames] if not multi else [0]
    headers = []
    surrogate = _series_surrogate(first, frames)
    for n, idx in enumerate(order):
        ds = datasets[idx]
        hdr = Dataset()
        hdr.update({e.tag: e for e in ds if e.tag != 0x7FE00010})  # drop PixelData
        hdr.file_meta = getattr(ds, "file_meta", Dataset())
        if not str(hdr.get("SeriesInstanceUID", "") or ""):
            hdr.SeriesInstanceUID = "2.25.0." + surrogate  # placeholder, replaced below
        if not str(hdr.get("SOPInstanceUID", "") or ""):
            hdr.SOPInstanceUID = "2.25.1." + surrogate + "." + str(n)
        if not str(hdr.get("StudyInstanceUID", "") or ""):
            hdr.StudyInstanceUID = "2.25.2." + surrogate
        headers.append(deidentify(hdr, key=key, uid_map=uid_map, in_place=True))
    return ImageData(
        array=array,
        geometry=geometry,
        source_format="dicom",
        modality=str(first.get("Modality", "") or "") or None,
        attributes=attributes,
        patient_pseudonym=pseudonym(str(pid), key=key, prefix="P-") if pid else None,
        dicom_headers=headers,
        source_name=source_name,
    )


def _series_surrogate(first: Dataset, frames: list[_Frame]) -> str:
    """Stable stand-in identity for series whose UIDs were blanked upstream.

    Derived from the frame of reference and the grid, so re-ingesting the same files maps to the
    same (keyed) UIDs; it is itself only an input to the keyed UID hash.
    """
    import hashlib

    text = "|".join(
        [str(first.get("FrameOfReferenceUID", "") or ""), str(frames[0].rows), str(frames[0].columns)]
        + [",".join(f"{v:.4f}" for v in f.position) for f in frames]
    )
    return str(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big"))
