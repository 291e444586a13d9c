"""Assignment, drafts by partial writes, optimistic concurrency, submission and blinding, via the API."""

from __future__ import annotations

import numpy as np
import pytest

from annotation.models import Assignment, LabelVersion
from core.models import Case, CaseStatus
from core.storage import open_volume
from tests.integration.conftest import client_for

pytestmark = pytest.mark.django_db


def _paint(client, case_id: int, revision: int, region=(2, 3, 4, 12, 5, 15), value=1):
    z0, z1, y0, y1, x0, x1 = region
    data = np.full((z1 - z0, y1 - y0, x1 - x0), value, np.uint8)
    return client.put(f"/api/cases/{case_id}/draft/data/?z0={z0}&z1={z1}&y0={y0}&y1={y1}&x0={x0}&x1={x1}"
                      f"&revision={revision}", data=data.tobytes(), content_type="application/octet-stream")


def test_next_case_follows_priority_and_k_raters(labelled):
    project, manager, raters, cases = labelled
    Case.objects.filter(pk=cases[2].pk).update(priority=5.0)
    r1, r2, r3 = (client_for(r) for r in raters)
    first = r1.post(f"/api/projects/{project.slug}/next/").json()
    assert first["case"]["id"] == cases[2].pk and first["draft"]["revision"] == 0
    # resumes the open assignment rather than taking another case
    assert r1.post(f"/api/projects/{project.slug}/next/").json()["case"]["id"] == cases[2].pk
    assert r2.post(f"/api/projects/{project.slug}/next/").json()["case"]["id"] == cases[2].pk
    # k = 2: the third rater gets the next case (oldest first among equal priority)
    assert r3.post(f"/api/projects/{project.slug}/next/").json()["case"]["id"] == cases[0].pk
    assert Assignment.objects.filter(case=cases[2]).count() == 2
    assert Case.objects.get(pk=cases[2].pk).status == CaseStatus.IN_PROGRESS


def test_queue_exhausted_answers_204(tmp_path):
    from tests.integration.annotation.conftest import make_labelled_project

    project, _, raters, _ = make_labelled_project(tmp_path, slug="tiny", n_cases=1, raters_per_case=1)
    assert client_for(raters[0]).post(f"/api/projects/{project.slug}/next/").status_code == 200
    assert client_for(raters[1]).post(f"/api/projects/{project.slug}/next/").status_code == 204


def test_draft_partial_write_conflict_and_submit(labelled):
    project, _, raters, _ = labelled
    c = client_for(raters[0])
    nxt = c.post(f"/api/projects/{project.slug}/next/").json()
    case_id = nxt["case"]["id"]
    r = _paint(c, case_id, revision=0)
    assert r.status_code == 200 and r.json()["revision"] == 1
    stale = _paint(c, case_id, revision=0, value=0)
    assert stale.status_code == 409 and stale.json()["current"]["revision"] == 1
    got = c.get(f"/api/cases/{case_id}/draft/data/?z0=2&z1=3&y0=4&y1=12&x0=5&x1=15")
    assert np.frombuffer(got.content, np.uint8).min() == 1  # the stale write changed nothing
    bad = _paint(c, case_id, revision=1, value=7)
    assert bad.status_code == 400 and "not structures" in bad.json()["detail"]
    sub = c.post(f"/api/cases/{case_id}/submit/", {"revision": 1}, format="json")
    assert sub.status_code == 201, sub.content
    v = LabelVersion.objects.get(pk=sub.json()["version"]["id"])
    assert v.number == 1 and v.parent is None
    case = Case.objects.select_related("volume").get(pk=case_id)
    stored = open_volume(case.volume.store_url).open_label(v.store_label)
    assert stored.checksum() == v.checksum
    expect = np.zeros(case.volume.shape, np.uint8)
    expect[2:3, 4:12, 5:15] = 1
    np.testing.assert_array_equal(stored.read(), expect)
    with pytest.raises(ValueError, match="immutable"):
        v.save()
    # editing after submission changes the draft, never the version; a resubmission is version 2
    assert _paint(c, case_id, revision=1, region=(0, 1, 0, 2, 0, 2)).status_code == 200
    v2 = c.post(f"/api/cases/{case_id}/submit/", {"revision": 2}, format="json").json()["version"]
    assert v2["number"] == 2 and v2["parent"] == v.pk
    np.testing.assert_array_equal(stored.read(), expect)
    history = c.get(f"/api/cases/{case_id}/labels/").json()
    assert [h["number"] for h in history] == [1, 2]


def test_blinding_enforced_by_the_api(labelled):
    project, manager, raters, _ = labelled
    a, b = client_for(raters[0]), client_for(raters[1])
    case_id = a.post(f"/api/projects/{project.slug}/next/").json()["case"]["id"]
    assert b.post(f"/api/projects/{project.slug}/next/").json()["case"]["id"] == case_id
    _paint(a, case_id, 0)
    va = a.post(f"/api/cases/{case_id}/submit/", {"revision": 1}, format="json").json()["version"]["id"]
    _paint(b, case_id, 0, region=(2, 4, 4, 10, 5, 15))
    vb = b.post(f"/api/cases/{case_id}/submit/", {"revision": 1}, format="json").json()["version"]["id"]
    assert b.get(f"/api/labels/{va}/data/").status_code == 404
    assert b.get(f"/api/labels/{va}/").status_code == 404
    assert [v["id"] for v in b.get(f"/api/cases/{case_id}/labels/").json()] == [vb]
    assert b.get(f"/api/cases/{case_id}/agreement/").status_code == 404
    # a third annotator not assigned to the case cannot even see it
    assert client_for(raters[2]).get(f"/api/cases/{case_id}/labels/").status_code == 404
    m = client_for(manager)
    rep = m.get(f"/api/cases/{case_id}/agreement/").json()
    assert 0 < rep["mean_dice"] < 1 and sorted(rep["rater_names"]) == sorted([raters[0].username, raters[1].username])
    # once the manager closes the case, raters see each other's labels
    adj = m.post(f"/api/cases/{case_id}/adjudicate/", {"method": "staple"}, format="json")
    assert adj.status_code == 201 and adj.json()["kind"] == "adjudicated"
    assert b.get(f"/api/labels/{va}/data/").status_code == 200
    assert b.get(f"/api/cases/{case_id}/agreement/").status_code == 200


def test_annotator_cannot_adjudicate_or_read_stats(labelled):
    project, _, raters, cases = labelled
    a = client_for(raters[0])
    case_id = a.post(f"/api/projects/{project.slug}/next/").json()["case"]["id"]
    assert a.post(f"/api/cases/{case_id}/adjudicate/", {"method": "staple"}, format="json").status_code == 403
    assert a.get(f"/api/projects/{project.slug}/stats/").status_code == 403


def test_region_and_body_validation(labelled):
    project, _, raters, _ = labelled
    c = client_for(raters[0])
    case_id = c.post(f"/api/projects/{project.slug}/next/").json()["case"]["id"]
    r = c.put(f"/api/cases/{case_id}/draft/data/?z0=0&z1=99&revision=0", data=b"\0", content_type="application/octet-stream")
    assert r.status_code == 400 and "outside" in r.json()["detail"]
    r = c.put(f"/api/cases/{case_id}/draft/data/?z0=0&z1=1&y0=0&y1=2&x0=0&x1=2&revision=0", data=b"\0\0",
              content_type="application/octet-stream")
    assert r.status_code == 400 and "needs 4" in r.json()["detail"]
