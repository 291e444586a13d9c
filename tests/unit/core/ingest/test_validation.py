"""Malformed inputs: each raises InvalidInput whose message names the file and the problem."""

from __future__ import annotations

import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from core.errors import InvalidInput
from core.ingest import discover, extract_zip, load_label, load_series
from core.ingest.archive import MAX_MEMBERS

from .conftest import ROW, write_nifti, write_series

KEY = b"k"


def _load_dir(root: Path) -> None:
    for source in discover(root):
        image = load_series(source, key=KEY)
        for path in source.label_files.values():
            load_label(path, image)


def missing_slice(tmp: Path) -> tuple[Path, str, str]:
    pos = [(0.0, 0.0, z) for z in (0.0, 2.0, 4.0, 8.0, 10.0)]
    files, _ = write_series(tmp / "s", n=5, positions=pos)
    return tmp / "s", files[3].name, "missing slices"


def duplicate_slice(tmp):
    files, _ = write_series(tmp / "s", n=4, positions=[(0, 0, 0), (0, 0, 2), (0, 0, 2), (0, 0, 4)])
    return tmp / "s", files[2].name, "duplicate slice"


def mixed_orientation(tmp):
    files, _ = write_series(
        tmp / "s", n=4, per_slice={2: {"ImageOrientationPatient": [1, 0, 0, 0, 0.9950042, 0.0998334]}}
    )
    return tmp / "s", files[2].name, "mixed orientations"


def mixed_pixel_spacing(tmp):
    files, _ = write_series(tmp / "s", n=4, per_slice={1: {"PixelSpacing": [0.9, 0.9]}})
    return tmp / "s", files[1].name, "mixed pixel spacing"


def mixed_rows(tmp):
    files, _ = write_series(tmp / "s", n=3)
    import pydicom

    ds = pydicom.dcmread(files[1])
    ds.Rows, ds.Columns = 4, 12
    ds.save_as(files[1])
    return tmp / "s", files[1].name, "mixed rows/columns"


def non_uniform(tmp):
    pos = [(0.0, 0.0, z) for z in (0.0, 2.0, 4.0, 6.4, 8.4)]
    files, _ = write_series(tmp / "s", n=5, positions=pos)
    return tmp / "s", files[3].name, "non-uniform slice spacing"


def single_slice(tmp):
    files, _ = write_series(tmp / "s", n=1)
    return tmp / "s", files[0].name, "single-slice series"


def truncated_pixels(tmp):
    files, _ = write_series(tmp / "s", n=3)
    import pydicom

    ds = pydicom.dcmread(files[1])
    ds.PixelData = ds.PixelData[:20]
    ds.save_as(files[1])
    return tmp / "s", files[1].name, "truncated pixel data"


def corrupt_dicom(tmp):
    files, _ = write_series(tmp / "s", n=3)
    data = files[0].read_bytes()
    files[0].write_bytes(data[:132] + b"\xff" * 40)
    return tmp / "s", files[0].name, "corrupt DICOM"


def tilted(tmp):
    pos = [(0.0, 0.5 * k, 2.0 * k) for k in range(4)]
    files, _ = write_series(tmp / "s", n=4, positions=pos, orientation=ROW + (0.0, 1.0, 0.0))
    return tmp / "s", files[3].name, "gantry tilt"


def nifti_4d(tmp):
    (tmp / "d").mkdir()
    write_nifti(tmp / "d" / "vol.nii.gz", np.zeros((4, 4, 4, 3), np.int16))
    return tmp / "d", "vol.nii.gz", "expected a 3D volume"


def nifti_2d(tmp):
    (tmp / "d").mkdir()
    write_nifti(tmp / "d" / "flat.nii.gz", np.zeros((4, 4), np.int16))
    return tmp / "d", "flat.nii.gz", "expected a 3D volume"


def nifti_absurd(tmp):
    (tmp / "d").mkdir()
    img = nib.Nifti1Image(np.zeros((2, 2, 2), np.uint8), np.eye(4))
    img.header.set_data_shape((5000, 2, 2))
    path = tmp / "d" / "huge.nii"
    with open(path, "wb") as fh:  # header only: the size check must come before reading voxels
        img.header.write_to(fh)
    return tmp / "d", "huge.nii", "absurd dimensions"


def nifti_nan_affine(tmp):
    (tmp / "d").mkdir()
    path = write_nifti(tmp / "d" / "nan.nii", np.zeros((3, 3, 3), np.int16))
    raw = bytearray(path.read_bytes())
    raw[292:296] = np.array([np.nan], "<f4").tobytes()  # srow_x[3]: nibabel refuses to write it
    path.write_bytes(bytes(raw))
    return tmp / "d", "nan.nii", "NaN or inf"


def nifti_zero_spacing(tmp):
    (tmp / "d").mkdir()
    path = write_nifti(tmp / "d" / "zero.nii", np.zeros((3, 3, 3), np.int16))
    raw = bytearray(path.read_bytes())
    raw[84:88] = np.array([0.0], "<f4").tobytes()  # pixdim[2]
    raw[300:304] = np.array([0.0], "<f4").tobytes()  # srow_y[1]
    path.write_bytes(bytes(raw))
    return tmp / "d", "zero.nii", "zero or negative spacing"


def nifti_truncated(tmp):
    (tmp / "d").mkdir()
    path = write_nifti(tmp / "d" / "cut.nii", np.ones((16, 16, 16), np.int16))
    path.write_bytes(path.read_bytes()[:1000])
    return tmp / "d", "cut.nii", "truncated"


def label_wrong_shape(tmp):
    case = tmp / "root" / "case-1"
    case.mkdir(parents=True)
    write_nifti(case / "image.nii.gz", np.zeros((4, 4, 3), np.int16))
    write_nifti(case / "rater-1.nii.gz", np.zeros((4, 4, 2), np.uint8))
    return tmp / "root", "rater-1.nii.gz", "does not match the image shape"


def label_non_integer(tmp):
    case = tmp / "root" / "case-1"
    case.mkdir(parents=True)
    write_nifti(case / "image.nii.gz", np.zeros((4, 4, 3), np.int16))
    write_nifti(case / "rater-1.nii.gz", np.full((4, 4, 3), 0.5, np.float32))
    return tmp / "root", "rater-1.nii.gz", "non-integer values"


def label_negative(tmp):
    case = tmp / "root" / "case-1"
    case.mkdir(parents=True)
    write_nifti(case / "image.nii.gz", np.zeros((4, 4, 3), np.int16))
    write_nifti(case / "rater-1.nii.gz", np.full((4, 4, 3), -1, np.int16))
    return tmp / "root", "rater-1.nii.gz", "negative values"


def label_wrong_geometry(tmp):
    case = tmp / "root" / "case-1"
    case.mkdir(parents=True)
    write_nifti(case / "image.nii.gz", np.zeros((4, 4, 3), np.int16))
    write_nifti(case / "rater-1.nii.gz", np.zeros((4, 4, 3), np.uint8), np.diag([1.0, 1.0, 2.0, 1.0]))
    return tmp / "root", "rater-1.nii.gz", "label spacing"


def manifest_without_case_id(tmp):
    case = tmp / "root" / "case-1"
    case.mkdir(parents=True)
    write_nifti(case / "image.nii.gz", np.zeros((4, 4, 3), np.int16))
    (tmp / "root" / "manifest.csv").write_text("case,age\ncase-1,40\n")
    return tmp / "root", "manifest.csv", "no case_id column"


def empty_folder(tmp):
    (tmp / "nothing").mkdir()
    (tmp / "nothing" / "README.md").write_text("hello")
    return tmp / "nothing", "nothing", "no image found"


def zip_escape(tmp):
    path = tmp / "evil.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ok/image.nii", b"x")
        zf.writestr("../../etc/evil.txt", b"x")
    return path, "../../etc/evil.txt", "escapes the folder"


def zip_absolute(tmp):
    path = tmp / "abs.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("/tmp/abs.txt", b"x")
    return path, "/tmp/abs.txt", "absolute path"


def zip_symlink(tmp):
    path = tmp / "link.zip"
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("data/link")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    return path, "data/link", "symbolic link"


def zip_bomb_size(tmp):
    path = tmp / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.nii", b"\0" * (20 * 2**20))
    return path, "bomb.zip", "zip bomb"


CASES = [
    missing_slice, duplicate_slice, mixed_orientation, mixed_pixel_spacing, mixed_rows, non_uniform,
    single_slice, truncated_pixels, corrupt_dicom, tilted, nifti_4d, nifti_2d, nifti_absurd,
    nifti_nan_affine, nifti_zero_spacing, nifti_truncated, label_wrong_shape, label_non_integer,
    label_negative, label_wrong_geometry, manifest_without_case_id, empty_folder, zip_escape,
    zip_absolute, zip_symlink, zip_bomb_size,
]


@pytest.mark.parametrize("build", CASES, ids=[c.__name__ for c in CASES])
def test_malformed_input_is_refused_with_a_clear_message(tmp_path, build):
    root, file_name, problem = build(tmp_path)
    with pytest.raises(InvalidInput) as err:
        if root.suffix == ".zip":
            discover(root, workdir=tmp_path / "out")
        else:
            _load_dir(root)
    message = str(err.value)
    assert file_name in message, message
    assert problem.lower() in message.lower(), message


def test_zip_member_count_limit(tmp_path):
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(5):
            zf.writestr(f"f{i}", b"")
    with pytest.raises(InvalidInput, match="many.zip: zip bomb refused: 5 members"):
        extract_zip(path, tmp_path / "out", max_members=4)
    assert MAX_MEMBERS > 4
    assert not (tmp_path / "out").exists()  # nothing written before the checks
