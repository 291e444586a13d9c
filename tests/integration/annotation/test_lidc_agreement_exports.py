"""Real multi-rater data (LIDC, four radiologists): agreement and STAPLE against SimpleITK on the
stored labels, the agreement command, and exports (NIfTI, DICOM-SEG) with round trips."""

from __future__ import annotations

import csv
import io
import json
import shutil

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
from django.core.management import call_command

from annotation.models import LabelKind, LabelVersion
from annotation.services.consensus import publish_consensus, rater_stack
from annotation.services.exports import read_source_headers
from core.models import Case
from core.services.ingest import ingest
from core.services.projects import create_project
from tests.conftest import make_case_folder, shared_data
from tests.dicom_builders import make_ct_series

pytestmark = pytest.mark.django_db


@pytest.fixture
def lidc_project(tmp_path):
    lidc = shared_data("lidc")
    with (lidc / "manifest.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["raters_nonempty"] == "4" and int(r["n_slices"]) >= 4][:4]
    for r in rows:
        shutil.copytree(lidc / r["case_id"], tmp_path / r["case_id"])
    project = create_project(slug="lidc-agree", raters_per_case=4)
    ingest(path=tmp_path, project=project)
    return project, rows, lidc


def _sitk(mask: np.ndarray, spacing_xyz) -> sitk.Image:
    img = sitk.GetImageFromArray(mask.astype(np.uint8))
    img.SetSpacing(spacing_xyz)
    return img


def test_agreement_command_matches_simpleitk(lidc_project):
    project, rows, _ = lidc_project
    out = io.StringIO()
    call_command("agreement", project.slug, "--json", stdout=out, stderr=io.StringIO())
    summary = json.loads(out.getvalue())
    assert len(summary["cases"]) == len(rows)
    assert set(summary["raters"]) == {"rater-1", "rater-2", "rater-3", "rater-4"}
    for c in summary["cases"]:
        case = Case.objects.select_related("volume").get(pk=c["case_id"])
        stack, versions = rater_stack(case)
        spacing = tuple(case.volume.spacing)
        imgs = [_sitk(m, spacing) for m in stack]
        st = sitk.STAPLEImageFilter()
        st.SetForegroundValue(1)
        st.Execute(imgs)
        s = c["structures"]["1"]
        names = c["raters"]
        for i, name in enumerate(names):
            assert s["staple"][name]["sensitivity"] == pytest.approx(st.GetSensitivity()[i], abs=1e-3)
            assert s["staple"][name]["specificity"] == pytest.approx(st.GetSpecificity()[i], abs=1e-3)
        for i in range(4):
            for j in range(i + 1, 4):
                f = sitk.LabelOverlapMeasuresImageFilter()
                f.Execute(imgs[i], imgs[j])
                assert s["pairwise_dice"][i][j] == pytest.approx(f.GetDiceCoefficient(), abs=1e-3)
                if stack[i].any() and stack[j].any():
                    assert s["pairwise_hd95_mm"][i][j] is not None and s["pairwise_hd95_mm"][i][j] >= 0
        assert -1 <= c["fleiss_kappa"] <= 1


def test_consensus_matches_simpleitk_staple_and_exports_round_trip(lidc_project, tmp_path):
    project, rows, lidc = lidc_project
    case = Case.objects.select_related("volume", "project").get(project=project, name=rows[0]["case_id"])
    version = publish_consensus(case=case, method="staple")
    stack, _ = rater_stack(case)
    st = sitk.STAPLEImageFilter()
    st.SetForegroundValue(1)
    prob = sitk.GetArrayFromImage(st.Execute([_sitk(m, tuple(case.volume.spacing)) for m in stack]))
    out = tmp_path / "consensus.nii.gz"
    call_command("export", str(case.pk), "--label", "consensus", "--out", str(out), stdout=io.StringIO())
    exported = np.asanyarray(nib.load(out).dataobj).transpose(2, 1, 0)
    agree = (exported == (prob >= 0.5)).mean()
    assert agree >= 0.999, f"consensus agrees with SimpleITK STAPLE on {agree:.4%} of voxels"
    ref_img = nib.load(lidc / rows[0]["case_id"] / "image.nii.gz")
    np.testing.assert_allclose(nib.load(out).affine, ref_img.affine, atol=1e-5)
    # per rater export equals the source file; re-import as a label file gives the same voxels
    rater_out = tmp_path / "again" / rows[0]["case_id"] / "rater-1.nii.gz"
    call_command("export", str(case.pk), "--label", "rater-1", "--out", str(rater_out), stdout=io.StringIO())
    src = np.asanyarray(nib.load(lidc / rows[0]["case_id"] / "rater-1.nii.gz").dataobj)
    np.testing.assert_array_equal(np.asanyarray(nib.load(rater_out).dataobj), src)
    call_command("export", str(case.pk), "--out", str(rater_out.with_name("image.nii.gz")), stdout=io.StringIO())
    again = create_project(slug="reimport")
    [re] = ingest(path=tmp_path / "again", project=again)
    v = LabelVersion.objects.get(case_id=re.case_id, rater__username="rater-1")
    from core.storage import open_volume

    stored = open_volume(Case.objects.get(pk=re.case_id).volume.store_url).open_label(v.store_label).read()
    np.testing.assert_array_equal(stored, src.transpose(2, 1, 0))
    assert version.kind == LabelKind.CONSENSUS


def test_dicom_seg_export_references_source_and_round_trips(tmp_path):
    import highdicom as hd
    import pydicom

    make_ct_series(tmp_path / "src" / "s", n=6, rows=24, cols=20, phi={})
    project = create_project(slug="seg", label_schema=[{"value": 1, "name": "nodule", "color": "#ff0000"},
                                                       {"value": 2, "name": "vessel", "color": "#00ff00"}])
    [c] = ingest(path=tmp_path / "src", project=project)
    case = Case.objects.select_related("volume", "project").get(pk=c.case_id)
    from core.storage import open_volume

    store = open_volume(case.volume.store_url, mode="r+")
    mask = np.zeros(case.volume.shape, np.uint8)
    mask[1:4, 5:15, 4:12] = 1
    mask[3:5, 2:6, 2:6] = 2
    label = store.create_label("manual", mask)
    from annotation.services.imports import imported_rater

    LabelVersion.objects.create(case=case, rater=imported_rater("dr-who"), kind=LabelKind.RATER, number=1,
                                store_label="manual", checksum=label.checksum(), source="test")
    out = tmp_path / "seg.dcm"
    call_command("export", str(case.pk), "--label", "dr-who", "--format", "dicom-seg", "--out", str(out),
                 stdout=io.StringIO())
    seg = hd.seg.segread(out)
    headers = read_source_headers(case)
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == headers[0].SeriesInstanceUID
    sop_uids = [h.SOPInstanceUID for h in headers]
    vol = seg.get_pixels_by_source_instance(source_sop_instance_uids=sop_uids, combine_segments=True,
                                            relabel=False)
    np.testing.assert_array_equal(vol, mask)
    assert pydicom.dcmread(out).Modality == "SEG"


def test_dicom_seg_refused_for_nifti_cases(tmp_path):
    make_case_folder(tmp_path / "in", "n1", shape=(4, 8, 8), raters=1)
    project = create_project(slug="noseg")
    [c] = ingest(path=tmp_path / "in", project=project)
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="did not come from DICOM"):
        call_command("export", str(c.case_id), "--label", "rater-1", "--format", "dicom-seg",
                     "--out", str(tmp_path / "x.dcm"), stdout=io.StringIO())
