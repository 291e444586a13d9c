"""Many concurrent writers on PostgreSQL: no over-assignment, zero lost updates."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from django.db import connection

from annotation.models import Assignment, Draft
from core.models import Role
from core.services.projects import set_member
from tests.integration.annotation.conftest import make_labelled_project
from tests.integration.conftest import client_for, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def _threaded(fn, n):
    def run(i):
        try:
            return fn(i)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(run, range(n)))


def test_burst_of_next_case_never_over_assigns(tmp_path):
    project, _, _, cases = make_labelled_project(tmp_path, slug="burst", n_cases=4, raters_per_case=2)
    users = [make_user(f"burst-{i}") for i in range(12)]
    for u in users:
        set_member(project=project, user=u, role=Role.ANNOTATOR)
    codes = _threaded(lambda i: client_for(users[i]).post(f"/api/projects/{project.slug}/next/").status_code, 12)
    assert sorted(codes) == [200] * 8 + [204] * 4
    for c in cases:
        assert Assignment.objects.filter(case=c).count() == 2


def test_concurrent_writers_lose_no_update(tmp_path):
    project, _, raters, _ = make_labelled_project(tmp_path, slug="race", n_cases=1, raters_per_case=1,
                                                  shape=(16, 32, 32))
    c = client_for(raters[0])
    case_id = c.post(f"/api/projects/{project.slug}/next/").json()["case"]["id"]
    n_writers, conflicts = 16, []

    def writer(i):
        """Each writer paints its own slice; on 409 it re-reads the revision and retries."""
        client = client_for(raters[0])
        data = np.ones((1, 32, 32), np.uint8).tobytes()
        revision = client.get(f"/api/cases/{case_id}/draft/").json()["revision"]
        for _ in range(200):
            r = client.put(f"/api/cases/{case_id}/draft/data/?z0={i}&z1={i + 1}&revision={revision}", data=data,
                           content_type="application/octet-stream")
            if r.status_code == 200:
                return r.json()["revision"]
            assert r.status_code == 409, r.content
            conflicts.append(i)
            revision = r.json()["current"]["revision"]
        raise AssertionError("writer starved")

    revisions = _threaded(writer, n_writers)
    assert sorted(revisions) == list(range(1, n_writers + 1)), "each write got its own revision"
    assert conflicts, "writers did race (409s were answered)"
    draft = Draft.objects.get(case_id=case_id)
    assert draft.revision == n_writers
    got = np.frombuffer(c.get(f"/api/cases/{case_id}/draft/data/").content, np.uint8).reshape(16, 32, 32)
    assert (got == 1).all(), "a write was lost"
