"""The platform REST API through DRF's test client on PostgreSQL."""

from __future__ import annotations

import io

import nibabel as nib
import numpy as np
import pytest
from django.core.management import call_command
from PIL import Image
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.models import Assignment
from core.models import Case, Role
from core.services.ingest import ingest
from core.services.projects import create_project, set_member
from core.storage import open_volume
from tests.conftest import make_case_folder
from tests.integration.conftest import client_for, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(tmp_path):
    """Two projects; a manager and an annotator in the first, an outsider in the second."""
    manager, annotator, outsider = make_user("manager"), make_user("annotator"), make_user("outsider")
    p1 = create_project(slug="p1", owner=manager, raters_per_case=2)
    set_member(project=p1, user=annotator, role=Role.ANNOTATOR)
    p2 = create_project(slug="p2", owner=outsider)
    for i, sex in enumerate(["F", "M", "F"]):
        make_case_folder(tmp_path / "in", f"case-{i}", shape=(10, 40, 48), raters=0, seed=i)
    import csv

    with (tmp_path / "in" / "manifest.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["case_id", "sex", "site"])
        w.writerows([["case-0", "F", "A"], ["case-1", "M", "B"], ["case-2", "F", "B"]])
    cases = ingest(path=tmp_path / "in", project=p1)
    for prio, c in zip([0.2, 0.9, 0.5], cases):
        Case.objects.filter(pk=c.case_id).update(priority=prio)
    return {"manager": manager, "annotator": annotator, "outsider": outsider, "p1": p1, "p2": p2,
            "cases": [Case.objects.select_related("volume").get(pk=c.case_id) for c in cases]}


def test_requires_authentication():
    assert APIClient().get("/api/projects/").status_code in (401, 403)


def test_users_see_only_their_projects(world):
    slugs = [p["slug"] for p in client_for(world["manager"]).get("/api/projects/").json()["results"]]
    assert slugs == ["p1"]
    assert client_for(world["outsider"]).get("/api/projects/p1/").status_code == 404
    assert client_for(world["outsider"]).get(f"/api/cases/{world['cases'][0].pk}/").status_code == 404


def test_project_create_and_schema_validation(world):
    c = client_for(world["outsider"])
    bad = c.post("/api/projects/", {"slug": "x", "name": "X", "label_schema": [{"value": 0, "name": "bg"}]},
                 format="json")
    assert bad.status_code == 400 and "1..255" in str(bad.json())
    ok = c.post("/api/projects/", {"slug": "x", "name": "X", "raters_per_case": 3,
                                   "label_schema": [{"value": 1, "name": "liver", "color": "#00ff00"}]},
                format="json")
    assert ok.status_code == 201, ok.content
    assert ok.json()["role"] == "admin"


def test_members_managed_by_managers_only(world):
    m, a = client_for(world["manager"]), client_for(world["annotator"])
    make_user("newbie")
    assert a.post("/api/projects/p1/members/", {"username": "newbie", "role": "annotator"}).status_code == 403
    r = m.post("/api/projects/p1/members/", {"username": "newbie", "role": "annotator"})
    assert r.status_code == 201
    names = {x["username"]: x["role"] for x in m.get("/api/projects/p1/members/").json()}
    assert names["newbie"] == "annotator" and names["manager"] == "admin"


def test_cases_filter_and_sort_by_priority(world):
    c = client_for(world["manager"])
    res = c.get("/api/cases/", {"project": "p1"}).json()["results"]
    assert [r["priority"] for r in res] == [0.9, 0.5, 0.2]
    females = c.get("/api/cases/", {"project": "p1", "attr": "sex:F"}).json()["results"]
    assert {r["name"] for r in females} == {"case-0", "case-2"}
    oldest = c.get("/api/cases/", {"project": "p1", "ordering": "created_at"}).json()["results"]
    assert [r["id"] for r in oldest] == sorted(r["id"] for r in oldest)
    assert c.get("/api/cases/", {"ordering": "bogus"}).status_code == 400


def test_annotators_see_only_assigned_cases(world):
    a = client_for(world["annotator"])
    assert a.get("/api/cases/", {"project": "p1"}).json()["count"] == 0
    case = world["cases"][1]
    Assignment.objects.create(case=case, rater=world["annotator"])
    res = a.get("/api/cases/", {"project": "p1"}).json()["results"]
    assert [r["id"] for r in res] == [case.pk]
    assert a.get(f"/api/cases/{world['cases'][0].pk}/").status_code == 404
    assert a.patch(f"/api/cases/{case.pk}/", {"priority": 5}, format="json").status_code == 403


def test_volume_metadata_and_slices(world):
    c = client_for(world["manager"])
    case = world["cases"][0]
    meta = c.get(f"/api/cases/{case.pk}/volume/").json()
    assert meta["shape"] == [10, 40, 48] and meta["spacing"] == pytest.approx([0.8, 0.8, 2.0])
    full = open_volume(case.volume.store_url).read(0)
    for axis, index, expect in [("axial", 3, full[3]), ("coronal", 7, full[:, 7]), ("sagittal", 11, full[:, :, 11])]:
        r = c.get(f"/api/cases/{case.pk}/slice/", {"axis": axis, "index": index, "format": "raw"})
        assert r.status_code == 200
        shape = tuple(int(v) for v in r["X-Shape"].split(","))
        got = np.frombuffer(r.content, dtype=np.dtype(r["X-Dtype"])).reshape(shape)
        np.testing.assert_array_equal(got, expect)
        png = c.get(f"/api/cases/{case.pk}/slice/", {"axis": axis, "index": index, "window": 400, "center": 40})
        assert png["Content-Type"] == "image/png"
        img = np.asarray(Image.open(io.BytesIO(png.content)))
        assert img.shape == expect.shape
        lo = 40 - 200
        want = np.clip((expect.astype(np.float32) - lo) * (255 / 400), 0, 255).astype(np.uint8)
        if axis != "axial":
            want = want[::-1]
        np.testing.assert_array_equal(img, want)
    bad = c.get(f"/api/cases/{case.pk}/slice/", {"axis": "axial", "index": 99})
    assert bad.status_code == 400 and "out of range" in bad.json()["detail"]


def test_zarr_keys_served_for_browser_clients(world):
    c = client_for(world["manager"])
    case = world["cases"][0]
    root = c.get(f"/api/cases/{case.pk}/zarr/zarr.json")
    assert root.status_code == 200 and "multiscales" in root.content.decode()
    arr_meta = c.get(f"/api/cases/{case.pk}/zarr/0/zarr.json").json()
    assert arr_meta["shape"] == [10, 40, 48]
    assert c.get(f"/api/cases/{case.pk}/zarr/../../etc/passwd").status_code in (400, 404)
    assert c.get(f"/api/cases/{case.pk}/zarr/0/c/99/99/99").status_code == 404


def test_token_auth_and_schema(world):
    token = Token.objects.create(user=world["manager"])
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert c.get("/api/projects/").status_code == 200
    schema = c.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/cases/{id}/slice/" in schema.content
    assert c.get("/api/docs/").status_code == 200
    obtained = APIClient().post("/api/auth/token/", {"username": "manager", "password": "pw-12345678"})
    assert obtained.json()["token"] == token.key


def test_export_command_round_trip(world, tmp_path):
    case = world["cases"][2]
    out = tmp_path / "out.nii.gz"
    call_command("export", str(case.pk), "--out", str(out), stdout=io.StringIO())
    img = nib.load(out)
    src = nib.load(tmp_path / "in" / "case-2" / "image.nii.gz")
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), np.asanyarray(src.dataobj))
    np.testing.assert_allclose(img.affine, src.affine, atol=1e-5)


def test_ingest_command_json(tmp_path):
    import json

    make_case_folder(tmp_path / "in", "solo", shape=(6, 16, 16), raters=2)
    out = io.StringIO()
    call_command("ingest", str(tmp_path / "in"), "--project", "cli", "--json", stdout=out, stderr=io.StringIO())
    data = json.loads(out.getvalue())
    assert data["project"] == "cli"
    [case] = data["cases"]
    assert case["shape"] == [6, 16, 16] and case["raters"] == ["rater-1", "rater-2"]
