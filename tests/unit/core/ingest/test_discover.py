"""Discovery rules: case folders, labels, manifest attributes, zips, loose files."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from core.ingest import discover, load_label, load_series
from tests.conftest import shared_data

from .conftest import write_nifti, write_series


def _case(root, name, raters=2):
    (root / name).mkdir(parents=True)
    write_nifti(root / name / "image.nii.gz", np.zeros((5, 4, 3), np.int16))
    for r in range(1, raters + 1):
        write_nifti(root / name / f"rater-{r}.nii.gz", np.ones((5, 4, 3), np.uint8))


def test_case_folders_with_manifest(tmp_path):
    _case(tmp_path, "case-a")
    _case(tmp_path, "case-b", raters=1)
    (tmp_path / "manifest.csv").write_text("case_id,patient_id,age,site\ncase-a,PAT-1,41,north\n")
    sources = discover(tmp_path)
    assert [s.case_key for s in sources] == ["case-a", "case-b"]
    assert sorted(sources[0].label_files) == ["rater-1", "rater-2"]
    image = load_series(sources[0], key=b"k")
    assert image.attributes == {"age": 41, "site": "north"}
    assert image.patient_pseudonym and "PAT-1" not in image.patient_pseudonym
    assert image.array.shape == (3, 4, 5) and image.array.dtype == np.int16
    assert load_label(sources[0].label_files["rater-1"], image).dtype == np.uint8


def test_top_level_files_are_images_unless_pattern_given(tmp_path):
    write_nifti(tmp_path / "t2.nii.gz", np.zeros((3, 3, 3), np.int16))
    write_nifti(tmp_path / "t2_seg.nii.gz", np.zeros((3, 3, 3), np.uint8))
    assert len(discover(tmp_path)) == 2
    (only,) = discover(tmp_path, label_pattern="*seg*")
    assert only.case_key == "t2" and list(only.label_files) == ["seg"]


def test_zip_is_extracted_and_dicom_found_by_content(tmp_path):
    write_series(tmp_path / "src" / "study", n=3, names=["a", "b.txt", "c.bin"])
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in (tmp_path / "src").rglob("*"):
            zf.write(f, f.relative_to(tmp_path / "src"))
    (source,) = discover(archive, workdir=tmp_path / "x")
    assert source.kind == "dicom" and len(source.files) == 3 and source.source_name == "series-1"
    assert load_series(source, key=b"k").array.shape == (3, 6, 8)


@pytest.mark.realdata
def test_lidc_case_folders():
    root = shared_data("lidc")
    sources = discover(root)
    assert len(sources) == 1135
    first = sources[0]
    assert first.case_key == "LIDC-IDRI-0001_nodule-0"
    assert sorted(first.label_files) == ["rater-1", "rater-2", "rater-3", "rater-4"]
    image = load_series(first, key=b"k")
    assert image.array.dtype == np.uint8 and image.array.shape == (9, 128, 128)
    assert image.geometry.spacing == (0.703125, 0.703125, 2.5)
    assert image.attributes["contrast_used"] == 1 and "_patient_id" not in image.attributes
    assert load_label(first.label_files["rater-1"], image).max() == 1
