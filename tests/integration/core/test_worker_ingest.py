"""Upload through the API, ingest in a real Celery worker (Redis broker, PostgreSQL), and check
de-identification: no PHI value of the source anywhere in the database, the store or the logs."""

from __future__ import annotations

import io
import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient

from core.models import Case, JobStatus, Role
from core.services.projects import create_project, set_member
from core.storage import open_volume
from tests.dicom_builders import PHI, make_ct_series
from tests.integration.conftest import wait_for_job

pytestmark = pytest.mark.django_db(transaction=True)


def _zip(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(folder))
    return buf.getvalue()


def _manager_client(slug: str) -> tuple[APIClient, object]:
    user = get_user_model().objects.create_user("mgr-" + slug, password="pw-12345678")
    project = create_project(slug=slug, owner=user)
    set_member(project=project, user=user, role=Role.MANAGER)
    client = APIClient()
    client.force_authenticate(user)
    return client, project


def test_upload_is_ingested_by_worker_and_deidentified(celery_worker, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    make_ct_series(tmp_path / "src" / "series", n=5)
    client, project = _manager_client("phi")
    upload = io.BytesIO(_zip(tmp_path / "src"))
    upload.name = "study.zip"
    resp = client.post(f"/api/projects/{project.slug}/ingest/", {"file": upload}, format="multipart")
    assert resp.status_code == 202, resp.content
    job = wait_for_job(resp.json()["id"])
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.progress == 1.0
    [case] = Case.objects.filter(project=project).select_related("volume")
    assert job.result["cases"][0]["case_id"] == case.pk
    assert case.volume.shape == [5, 16, 16]
    assert case.attributes["sex"] == "F" and case.attributes["age"] == 66
    assert case.patient_pseudonym.startswith("P-")
    # the job is visible through the one job endpoint
    assert client.get(f"/api/jobs/{job.pk}/").json()["status"] == "succeeded"

    needles = [v for v in PHI.values()] + [p.split("^")[0] for p in PHI.values() if "^" in p]
    src = [__import__("pydicom").dcmread(p) for p in (tmp_path / "src" / "series").iterdir()]
    needles += [src[0].StudyInstanceUID, src[0].SeriesInstanceUID] + [d.SOPInstanceUID for d in src]
    haystacks: dict[str, bytes] = {}
    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    haystacks["database"] = dump.getvalue().encode()
    store_root = Path(settings.STORE_URL)
    for f in store_root.rglob("*"):
        if f.is_file() and case.volume.store_url.split("/")[-1] in str(f):
            data = f.read_bytes()
            if f.suffix == ".gz":
                import gzip

                data = gzip.decompress(data)
            haystacks[str(f)] = data
    haystacks["worker log"] = Path(celery_worker).read_bytes()
    haystacks["test log"] = caplog.text.encode()
    assert len(haystacks) > 4
    leaks = [(n, where) for n in needles for where, hay in haystacks.items() if n.encode() in hay]
    assert not leaks, f"PHI found: {leaks[:5]}"


def test_bad_upload_fails_job_with_clear_error_and_leaves_nothing(celery_worker, tmp_path):
    paths = make_ct_series(tmp_path / "src" / "s", n=5, phi={})
    paths[2].unlink()  # a missing slice in the middle
    client, project = _manager_client("gap")
    before = set(Path(settings.STORE_URL).glob("volumes/*"))
    upload = io.BytesIO(_zip(tmp_path / "src"))
    upload.name = "broken.zip"
    resp = client.post(f"/api/projects/{project.slug}/ingest/", {"file": upload}, format="multipart")
    job = wait_for_job(resp.json()["id"])
    assert job.status == JobStatus.FAILED
    assert "missing" in job.error.lower() and "slice" in job.error.lower()
    assert not Case.objects.filter(project=project).exists()
    assert set(Path(settings.STORE_URL).glob("volumes/*")) == before, "a partial volume was left in the store"
    assert not list(Path(settings.UPLOAD_DIR).glob("*/broken.zip")), "the upload was not cleaned up"


def test_ingest_upload_requires_a_manager(tmp_path):
    user = get_user_model().objects.create_user("ann", password="pw-12345678")
    project = create_project(slug="perm")
    set_member(project=project, user=user, role=Role.ANNOTATOR)
    client = APIClient()
    client.force_authenticate(user)
    f = io.BytesIO(b"x")
    f.name = "a.zip"
    assert client.post(f"/api/projects/{project.slug}/ingest/", {"file": f}, format="multipart").status_code == 403


def test_store_pyramid_is_readable_after_worker_ingest(celery_worker, tmp_path):
    from tests.conftest import make_case_folder

    make_case_folder(tmp_path / "src", "c1", shape=(20, 64, 64))
    client, project = _manager_client("pyr")
    upload = io.BytesIO(_zip(tmp_path / "src"))
    upload.name = "c.zip"
    job = wait_for_job(client.post(f"/api/projects/{project.slug}/ingest/", {"file": upload},
                                   format="multipart").json()["id"])
    assert job.status == JobStatus.SUCCEEDED, job.error
    case = Case.objects.select_related("volume").get(project=project)
    store = open_volume(case.volume.store_url)
    assert store.levels >= 2 and store.shape(1)[1] < store.shape(0)[1]
    assert np.isfinite(store.read(store.levels - 1)).all()
