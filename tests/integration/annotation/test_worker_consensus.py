"""The last rater's submission enqueues agreement + consensus, run by a real Celery worker."""

from __future__ import annotations

import numpy as np
import pytest

from annotation.models import CaseAgreement, LabelKind, LabelVersion
from core.models import Case, CaseStatus, Job
from tests.integration.annotation.conftest import make_labelled_project
from tests.integration.conftest import client_for, wait_for_job

pytestmark = pytest.mark.django_db(transaction=True)


def _label(client, case_id, region):
    z0, z1, y0, y1, x0, x1 = region
    rev = client.get(f"/api/cases/{case_id}/draft/").json()["revision"]
    data = np.ones((z1 - z0, y1 - y0, x1 - x0), np.uint8).tobytes()
    r = client.put(f"/api/cases/{case_id}/draft/data/?z0={z0}&z1={z1}&y0={y0}&y1={y1}&x0={x0}&x1={x1}&revision={rev}",
                   data=data, content_type="application/octet-stream")
    assert r.status_code == 200
    assert client.post(f"/api/cases/{case_id}/submit/", {"revision": rev + 1}, format="json").status_code == 201


@pytest.mark.parametrize("second, closed", [((2, 6, 8, 20, 8, 20), True), ((0, 2, 0, 4, 0, 4), False)])
def test_consensus_or_adjudication_after_last_submission(celery_worker, tmp_path, second, closed):
    project, manager, raters, _ = make_labelled_project(tmp_path, slug=f"cw{int(closed)}", n_cases=1)
    a, b = client_for(raters[0]), client_for(raters[1])
    case_id = a.post(f"/api/projects/{project.slug}/next/").json()["case"]["id"]
    b.post(f"/api/projects/{project.slug}/next/")
    _label(a, case_id, (2, 6, 8, 20, 8, 20))
    _label(b, case_id, second)
    job = Job.objects.get(kind="concord.agreement", arguments__case_id=case_id)
    job = wait_for_job(job.pk)
    assert job.status == "succeeded", job.error
    agreement = CaseAgreement.objects.get(case_id=case_id)
    assert agreement.flagged is (not closed)
    case = Case.objects.get(pk=case_id)
    assert (case.status == CaseStatus.CLOSED) is closed
    assert LabelVersion.objects.filter(case=case, kind=LabelKind.CONSENSUS).exists() is closed
    stats = client_for(manager).get(f"/api/projects/{project.slug}/stats/").json()
    assert [x["case_id"] for x in stats["low_agreement"]] == ([] if closed else [case_id])
    assert {r["rater"] for r in stats["per_rater"]} == {raters[0].username, raters[1].username}
    if not closed:  # the adjudicator adopts rater a's version and closes the case
        va = LabelVersion.objects.get(case=case, rater=raters[0])
        r = client_for(manager).post(f"/api/cases/{case_id}/adjudicate/", {"method": "version", "version_id": va.pk},
                                     format="json")
        assert r.status_code == 201 and r.json()["meta"]["from_version"] == va.pk
        assert Case.objects.get(pk=case_id).status == CaseStatus.CLOSED
