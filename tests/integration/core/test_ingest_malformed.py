"""Malformed inputs: each gets a clear error naming the file and the problem, and nothing partial
stays in the store or the database."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from annotation.models import LabelVersion
from core.errors import InvalidInput
from core.models import Case, Volume
from core.services.ingest import ingest
from core.services.projects import create_project
from tests.conftest import make_case_folder, write_nifti
from tests.dicom_builders import make_ct_series

pytestmark = pytest.mark.django_db


def _gap(tmp: Path):
    paths = make_ct_series(tmp / "in" / "s", n=6, phi={})
    paths[3].unlink()
    return tmp / "in", paths[0].parent.name, "missing"


def _duplicate(tmp: Path):
    paths = make_ct_series(tmp / "in" / "s", n=4, phi={})
    import pydicom
    from pydicom.uid import generate_uid

    ds = pydicom.dcmread(paths[1])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.save_as(tmp / "in" / "s" / "dup.dcm")
    return tmp / "in", "s", "duplicate"


def _mixed_orientation(tmp: Path):
    import pydicom

    paths = make_ct_series(tmp / "in" / "s", n=4, phi={})
    ds = pydicom.dcmread(paths[2])
    ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    ds.save_as(paths[2])
    return tmp / "in", paths[2].name, "orientation"


def _mixed_shape(tmp: Path):
    import pydicom

    paths = make_ct_series(tmp / "in" / "s", n=4, phi={})
    ds = pydicom.dcmread(paths[1])
    ds.Rows, ds.Columns = 8, 8
    ds.PixelData = np.zeros((8, 8), np.int16).tobytes()
    ds.save_as(paths[1])
    return tmp / "in", paths[1].name, "rows"


def _nonuniform(tmp: Path):
    import pydicom

    paths = make_ct_series(tmp / "in" / "s", n=6, phi={}, dz=2.0)
    ds = pydicom.dcmread(paths[3])
    pos = list(map(float, ds.ImagePositionPatient))
    pos[2] += 0.6
    ds.ImagePositionPatient = pos
    ds.save_as(paths[3])
    return tmp / "in", "s", "spacing"


def _unreadable(tmp: Path):
    (tmp / "in").mkdir(parents=True)
    (tmp / "in" / "scan.nii.gz").write_bytes(b"\x1f\x8b\x08\x00garbage-not-really-gzip")
    return tmp / "in", "scan.nii.gz", "read"


def _truncated_pixels(tmp: Path):
    import pydicom

    paths = make_ct_series(tmp / "in" / "s", n=4, phi={})
    ds = pydicom.dcmread(paths[1])
    ds.PixelData = ds.PixelData[:100]
    ds.save_as(paths[1])
    return tmp / "in", paths[1].name, "pixel"


def _zip_escape(tmp: Path):
    tmp.mkdir(parents=True, exist_ok=True)
    z = tmp / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("../../escape.nii", b"0" * 10)
    return z, "../../escape.nii", "escape"


def _not_a_zip(tmp: Path):
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "fake.zip").write_bytes(b"this is not a zip archive")
    return tmp / "fake.zip", "fake.zip", "zip"


def _absurd_dims(tmp: Path):
    (tmp / "in").mkdir(parents=True)
    img = nib.Nifti1Image(np.zeros((4, 4, 4), np.int16), np.eye(4))
    img.header.set_data_shape((5000, 5000, 5000))
    nib.save(nib.Nifti1Image(np.zeros((2, 2, 2), np.int16), np.eye(4)), tmp / "in" / "huge.nii")
    raw = bytearray((tmp / "in" / "huge.nii").read_bytes())
    hdr = nib.Nifti1Header.from_fileobj(__import__("io").BytesIO(bytes(raw[:348])))
    hdr.set_data_shape((5000, 5000, 5000))
    raw[:348] = hdr.binaryblock
    (tmp / "in" / "huge.nii").write_bytes(bytes(raw))
    return tmp / "in", "huge.nii", "dimension"


def _four_d(tmp: Path):
    (tmp / "in").mkdir(parents=True)
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 4, 3), np.int16), np.eye(4)), tmp / "in" / "fmri.nii.gz")
    return tmp / "in", "fmri.nii.gz", "4d"


def _nan_affine(tmp: Path):
    (tmp / "in").mkdir(parents=True)
    aff = np.eye(4)
    aff[0, 3] = np.nan
    img = nib.Nifti1Image(np.zeros((8, 8, 4), np.int16), aff)
    nib.save(img, tmp / "in" / "nan.nii.gz")
    return tmp / "in", "nan.nii.gz", "affine"


def _zero_spacing(tmp: Path):
    (tmp / "in").mkdir(parents=True)
    path = tmp / "in" / "flat.nii"
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 4), np.int16), np.diag([0.8, 0.8, 2.0, 1.0])), path)
    raw = bytearray(path.read_bytes())
    hdr = nib.Nifti1Header.from_fileobj(__import__("io").BytesIO(bytes(raw[:348])))
    hdr["srow_y"] = [0, 0, 0, 0]  # the y axis has zero length
    hdr["sform_code"], hdr["qform_code"] = 1, 0
    raw[:348] = hdr.binaryblock
    path.write_bytes(bytes(raw))
    return tmp / "in", "flat.nii", "spacing"


def _empty_folder(tmp: Path):
    (tmp / "in" / "nothing").mkdir(parents=True)
    (tmp / "in" / "notes.txt").write_text("no images here")
    return tmp / "in", "in", "no image"


def _label_wrong_shape(tmp: Path):
    folder = make_case_folder(tmp / "in", "case-x", shape=(8, 16, 16), raters=1)
    write_nifti(folder / "rater-2.nii.gz", np.zeros((8, 16, 15), np.uint8))
    return tmp / "in", "rater-2.nii.gz", "shape"


def _label_not_integer(tmp: Path):
    folder = make_case_folder(tmp / "in", "case-y", shape=(8, 16, 16), raters=1)
    write_nifti(folder / "rater-2.nii.gz", np.full((8, 16, 16), 0.5, np.float32))
    return tmp / "in", "rater-2.nii.gz", "integer"


def _manifest_without_case_id(tmp: Path):
    make_case_folder(tmp / "in", "case-z", shape=(8, 16, 16), raters=1)
    with (tmp / "in" / "manifest.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([["name", "sex"], ["case-z", "F"]])
    return tmp / "in", "manifest.csv", "case_id"


def _single_slice(tmp: Path):
    make_ct_series(tmp / "in" / "s", n=1, phi={})
    return tmp / "in", "s", "slice"


def _missing_path(tmp: Path):
    return tmp / "does-not-exist", "does-not-exist", "no such"


def _partial_batch(tmp: Path):
    """One good case and one bad one: the good one must not be kept either."""
    make_case_folder(tmp / "in", "good", shape=(8, 16, 16), raters=2)
    bad = make_case_folder(tmp / "in", "bad", shape=(8, 16, 16), raters=1)
    write_nifti(bad / "rater-2.nii.gz", np.zeros((7, 16, 16), np.uint8))
    return tmp / "in", "rater-2.nii.gz", "shape"


CASES = {f.__name__.lstrip("_"): f for f in [
    _gap, _duplicate, _mixed_orientation, _mixed_shape, _nonuniform, _unreadable, _truncated_pixels,
    _zip_escape, _not_a_zip, _absurd_dims, _four_d, _nan_affine, _zero_spacing, _empty_folder,
    _label_wrong_shape, _label_not_integer, _manifest_without_case_id, _single_slice, _missing_path,
    _partial_batch,
]}


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_input_is_refused_cleanly(name, tmp_path, settings):
    settings.STORE_URL = str(tmp_path / "store")
    path, names, problem = CASES[name](tmp_path / "data")
    project = create_project(slug="bad")
    with pytest.raises(InvalidInput) as err:
        ingest(path=path, project=project)
    message = str(err.value)
    assert names in message, f"error does not name {names!r}: {message}"
    assert problem.lower() in message.lower(), f"error does not say {problem!r}: {message}"
    assert not Case.objects.exists() and not Volume.objects.exists() and not LabelVersion.objects.exists()
    leftovers = [p for p in (tmp_path / "store").rglob("*") if p.is_file()] if (tmp_path / "store").exists() else []
    assert not leftovers, f"partial writes left in the store: {leftovers[:3]}"
