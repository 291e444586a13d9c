"""Ingest of real data: stored voxels and geometry equal what nibabel / SimpleITK read."""

from __future__ import annotations

import csv
import shutil

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from annotation.models import LabelVersion
from core.models import Case
from core.services.ingest import ingest
from core.services.projects import create_project
from core.storage import open_volume
from tests.conftest import shared_data

pytestmark = [pytest.mark.django_db, pytest.mark.realdata]


def _assert_geometry_matches_sitk(volume, image: sitk.Image) -> None:
    np.testing.assert_allclose(volume.spacing, image.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(volume.origin, image.GetOrigin(), atol=1e-3)
    np.testing.assert_allclose(volume.direction, image.GetDirection(), atol=1e-4)


def test_dicom_series_equals_simpleitk():
    folder = shared_data("totalseg-example") / "example_ct_dicom"
    project = create_project(slug="dicom")
    [case] = ingest(path=folder, project=project)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    ref = reader.Execute()
    row = Case.objects.select_related("volume").get(pk=case.case_id)
    stored = open_volume(row.volume.store_url).read(0, verify=True)
    np.testing.assert_array_equal(stored, sitk.GetArrayFromImage(ref))
    _assert_geometry_matches_sitk(row.volume, ref)
    assert row.volume.source_format == "dicom" and row.volume.modality == "CT"


def test_nifti_equals_nibabel():
    path = shared_data("totalseg-example") / "example_ct.nii.gz"
    project = create_project(slug="nifti")
    [case] = ingest(path=path, project=project)
    row = Case.objects.select_related("volume").get(pk=case.case_id)
    ref = nib.load(path)
    stored = open_volume(row.volume.store_url).read(0, verify=True)
    np.testing.assert_array_equal(stored, np.asanyarray(ref.dataobj).transpose(2, 1, 0))
    np.testing.assert_allclose(row.volume.geometry.nifti_affine(), ref.affine, atol=1e-4)
    _assert_geometry_matches_sitk(row.volume, sitk.ReadImage(str(path)))


def test_lidc_cases_with_four_raters_and_manifest(tmp_path):
    lidc = shared_data("lidc")
    with (lidc / "manifest.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["raters_nonempty"] == "4"][:3]
    # a small LIDC-layout folder: the chosen case folders (symlinked) and their manifest rows
    for r in rows:
        shutil.copytree(lidc / r["case_id"], tmp_path / r["case_id"])
    with (tmp_path / "manifest.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    project = create_project(slug="lidc")
    cases = ingest(path=tmp_path, project=project)
    assert len(cases) == 3
    for r in rows:
        case = Case.objects.select_related("volume").get(project=project, name=r["case_id"])
        assert case.attributes["slice_spacing"] == pytest.approx(float(r["slice_spacing"]))
        assert case.attributes["contrast_used"] in (0, 1, True, False)
        store = open_volume(case.volume.store_url)
        ref = nib.load(lidc / r["case_id"] / "image.nii.gz")
        np.testing.assert_array_equal(store.read(0), np.asanyarray(ref.dataobj).transpose(2, 1, 0))
        np.testing.assert_allclose(case.volume.geometry.nifti_affine(), ref.affine, atol=1e-5)
        versions = LabelVersion.objects.filter(case=case).select_related("rater")
        assert sorted(v.rater.username for v in versions) == ["rater-1", "rater-2", "rater-3", "rater-4"]
        for v in versions:
            mask = np.asanyarray(nib.load(lidc / r["case_id"] / f"{v.rater.username}.nii.gz").dataobj)
            label = store.open_label(v.store_label)
            np.testing.assert_array_equal(label.read(), mask.transpose(2, 1, 0))
            assert label.checksum() == v.checksum


def test_reingest_is_idempotent(tmp_path):
    from tests.conftest import make_case_folder

    make_case_folder(tmp_path, "a")
    project = create_project(slug="again")
    first = ingest(path=tmp_path, project=project)
    second = ingest(path=tmp_path, project=project)
    assert [c.case_id for c in first] == [c.case_id for c in second]
    assert second[0].created is False
    assert Case.objects.filter(project=project).count() == 1
