"""Learning API for managers: policy, train request (with the lock), curve and models; roles."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from core.models import Role
from core.services.projects import create_project, set_member
from learning.models import ModelStatus, ModelVersion
from tests.integration.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    users = get_user_model().objects
    manager, annotator = users.create_user("lm", password="x" * 10), users.create_user("la", password="x" * 10)
    project = create_project(slug="lp", owner=manager)
    set_member(project=project, user=annotator, role=Role.ANNOTATOR)
    return project, client_for(manager), client_for(annotator)


def test_policy_train_and_learning_view(people):
    project, m, a = people
    assert a.get("/api/projects/lp/learning/").status_code == 403
    assert a.post("/api/projects/lp/train/").status_code == 403
    r = m.patch("/api/projects/lp/learning/", {"retrain_cron": "30 2 * * *", "retrain_after_consensus": 5},
                format="json")
    assert r.status_code == 200 and r.json()["policy"]["retrain_after_consensus"] == 5
    bad = m.patch("/api/projects/lp/learning/", {"retrain_cron": "nightly"}, format="json")
    assert bad.status_code == 400 and "5 fields" in bad.json()["detail"]
    first = m.post("/api/projects/lp/train/", {"kind": "segmenter"}, format="json")
    again = m.post("/api/projects/lp/train/", {"kind": "segmenter"}, format="json")
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"], "a second request while one is queued starts nothing new"
    view = m.get("/api/projects/lp/learning/").json()
    assert view["training_job"]["id"] == first.json()["id"] and view["pending"] == ["segmenter"]
    assert view["models"] == [] and view["curve"] == []
    pul = m.post("/api/projects/lp/train/", {"kind": "pulaski"}, format="json")
    assert pul.status_code == 202 and pul.json()["id"] == first.json()["id"], "queued behind the running training"
    assert m.get("/api/projects/lp/learning/").json()["pending"] == ["segmenter", "pulaski"]
    bogus = m.post("/api/projects/lp/train/", {"kind": "bogus"}, format="json")
    assert bogus.status_code == 400 and "not a valid choice" in str(bogus.json())


def test_a_bad_train_config_is_refused_when_set_and_nothing_is_stored(people):
    """Every kind's section is checked when the manager sets it, naming the bad setting; the policy
    sent with it (cron) is not stored either."""
    _, m, _ = people
    good = m.patch("/api/projects/lp/learning/", {"train_config": {"max_epochs": 5, "pulaski": {"iterations": 50}}},
                   format="json")
    assert good.status_code == 200 and good.json()["policy"]["train_config"]["pulaski"]["iterations"] == 50
    for bad, message in [({"max_epochs": 0}, "max_epochs must be >= 1"),
                         ({"epochs": 5}, "unknown setting(s) epochs"),
                         ({"pulaski": {"net": {"spatial_dims": 3}, "patch": [16, 62, 64]}}, "pulaski.patch"),
                         ({"pulaski": {"loss": "dice"}}, "loss must be one of"),
                         ({"shape_dae": {"iters": 5}}, "shape_dae: unknown setting(s) iters"),
                         ([1, 2], "must be an object")]:
        r = m.patch("/api/projects/lp/learning/", {"train_config": bad, "retrain_cron": "0 3 * * *"}, format="json")
        assert r.status_code == 400 and message in r.json()["detail"], (bad, r.json())
    policy = m.get("/api/projects/lp/learning/").json()["policy"]
    assert policy["train_config"] == {"max_epochs": 5, "pulaski": {"iterations": 50}} and not policy["retrain_cron"]


def _add_volume(project, uid: str, shape: list[int]) -> None:
    from core.models import Case, Volume

    case = Case.objects.create(project=project, uid=uid)
    Volume.objects.create(case=case, store_url=f"mem://{uid}", shape=shape, spacing=[1, 1, 1], origin=[0, 0, 0],
                          direction=[1, 0, 0, 0, 1, 0, 0, 0, 1], dtype="int16", checksum="0", source_format="nifti")


def test_a_train_config_that_later_volumes_no_longer_fit_is_reported(people):
    """A 3D patch is a valid setting for volumes; once thin crops outnumber them the default becomes 2D
    on slices, and the policy view names the problem (nothing is changed or dropped)."""
    project, m, _ = people
    for i in range(2):
        _add_volume(project, f"ct{i}", [64, 96, 96])
    config = {"patch": [32, 64, 64]}
    r = m.patch("/api/projects/lp/learning/", {"train_config": config}, format="json")
    assert r.status_code == 200 and r.json()["policy"]["train_config_problem"] is None
    for i in range(3):
        _add_volume(project, f"crop{i}", [6, 64, 64])
    policy = m.get("/api/projects/lp/learning/").json()["policy"]
    assert policy["train_config"] == config
    assert policy["train_config_problem"] and "train_config" in policy["train_config_problem"]
    assert "patch" in policy["train_config_problem"], policy["train_config_problem"]
    # and the same setting is now refused when set again
    again = m.patch("/api/projects/lp/learning/", {"train_config": config}, format="json")
    assert again.status_code == 400 and again.json()["detail"] == policy["train_config_problem"]
    # dropping the stored settings (the dashboard's "use the defaults") clears the problem
    reset = m.patch("/api/projects/lp/learning/", {"train_config": {}}, format="json").json()["policy"]
    assert reset["train_config"] == {} and reset["train_config_problem"] is None


def test_rollback_needs_a_previous_version(people):
    project, m, _ = people
    assert m.post("/api/projects/lp/rollback/", {}, format="json").status_code == 404
    ModelVersion.objects.create(project=project, number=1, status=ModelStatus.PROMOTED, config={},
                                weights_url="x", weights_sha256="0", inputs_key="a",
                                promoted_at="2026-01-01T00:00:00Z")
    r = m.post("/api/projects/lp/rollback/", {}, format="json")
    assert r.status_code == 409 and "nothing to roll back" in r.json()["detail"]
