"""Label exports in scanner geometry: NIfTI, and DICOM-SEG referencing the de-identified source series."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import fsspec
import numpy as np
import pydicom
from pydicom.uid import CTImageStorage

from annotation.models import LabelKind, LabelVersion
from annotation.services.drafts import open_store
from core.errors import InvalidInput, NotFound
from core.models import Case
from core.services.exports import write_nifti

__all__ = ["resolve_label", "export_label", "read_source_headers"]


# Type 2 attributes that highdicom copies from the source images into the SEG.
_TYPE2_COPIED = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                 "ReferringPhysicianName", "StudyID", "AccessionNumber")


def resolve_label(case: Case, spec: str) -> LabelVersion:
    """A version of the case from "consensus", a rater's username (newest) or a version id."""
    versions = LabelVersion.objects.filter(case=case).select_related("rater").order_by("-created_at", "-id")
    if spec == "consensus":
        v = versions.filter(kind__in=[LabelKind.CONSENSUS, LabelKind.ADJUDICATED]).first()
    elif spec.isdigit():
        v = versions.filter(pk=int(spec)).first()
    else:
        v = versions.filter(kind=LabelKind.RATER, rater__username=spec).first()
    if v is None:
        raise NotFound(f"case {case.pk} has no label {spec!r}")
    return v


def read_source_headers(case: Case) -> list[pydicom.Dataset]:
    """The de-identified source headers kept at ingest, in slice order (empty if not DICOM)."""
    if not case.volume.has_dicom_headers:
        return []
    with fsspec.open(f"{case.volume.store_url.rstrip('/')}/dicom-headers.json.gz", "rb") as fh:
        items = json.loads(gzip.decompress(fh.read()))
    return [pydicom.Dataset.from_json(d) for d in items]


def _dicom_seg(case: Case, array: np.ndarray, version: LabelVersion, out: Path) -> Path:
    import highdicom as hd

    headers = read_source_headers(case)
    if not headers:
        raise InvalidInput(f"case {case.pk} did not come from DICOM: export it as NIfTI")
    if len(headers) != array.shape[0]:
        raise InvalidInput(f"case {case.pk}: {len(headers)} source headers for {array.shape[0]} slices")
    for ds in headers:  # highdicom needs these; some series carry them blank
        if not ds.get("SOPClassUID"):
            ds.SOPClassUID = CTImageStorage
        for keyword in _TYPE2_COPIED:  # removed by de-identification; present-but-empty is valid
            if keyword not in ds:
                setattr(ds, keyword, "")
        ds.file_meta = pydicom.dataset.FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    schema = {int(s["value"]): s["name"] for s in case.project.label_schema}
    values = [int(v) for v in np.unique(array) if v]
    if not values:
        raise InvalidInput(f"label version {version.pk} is empty: DICOM-SEG needs at least one segment")
    algo = hd.seg.SegmentAlgorithmTypeValues.MANUAL
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=i + 1, segment_label=schema.get(v, f"label-{v}"),
            segmented_property_category=hd.sr.CodedConcept("91723000", "SCT", "Anatomical Structure"),
            segmented_property_type=hd.sr.CodedConcept("85756007", "SCT", "Tissue"),
            algorithm_type=algo,
        ) for i, v in enumerate(values)
    ]
    # (frames, rows, cols, segments) binary, frames in the headers' order (= stored slice order)
    pixels = np.stack([array == v for v in values], axis=-1).astype(np.uint8)
    seg = hd.seg.Segmentation(
        source_images=headers, pixel_array=pixels, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=900,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="Concord",
        manufacturer_model_name="Concord", software_versions="0.1", device_serial_number="0",
        omit_empty_frames=False,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(".part-" + out.name)
    seg.save_as(tmp)
    tmp.replace(out)
    return out


def export_label(*, case: Case, spec: str, fmt: str, out: Path) -> Path:
    """Write one label version of the case (checksum-verified) as NIfTI or DICOM-SEG."""
    version = resolve_label(case, spec)
    label = open_store(case).open_label(version.store_label)
    array = label.read()
    if label.checksum() != version.checksum:
        raise InvalidInput(f"label version {version.pk} fails its checksum: the store is corrupt")
    if fmt == "nifti":
        return write_nifti(array, case.volume.geometry, Path(out))
    if fmt == "dicom-seg":
        return _dicom_seg(case, array, version, Path(out))
    raise InvalidInput(f"format {fmt!r}: expected nifti or dicom-seg")
