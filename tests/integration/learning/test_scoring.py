"""Scoring with the promoted model fills the queue (priorities), stores scores, runs the bias
audit with RCA estimates that never look at a case's own label; cold start without a model."""

from __future__ import annotations

import numpy as np
import pytest
from rest_framework.test import APIClient

from core.errors import InvalidInput
from core.models import Case
from learning.device import pick_device
from learning.models import BiasAudit, CaseScore, ModelStatus
from learning.services import schedule, scoring, training
from tests.integration.learning.test_training_loop import _lidc_project

pytestmark = pytest.mark.django_db


def test_cold_start_then_scores_queue_and_audit(tmp_path):
    project, unlabelled = _lidc_project(tmp_path, "score", n_labelled=6, n_unlabelled=4)
    cold = scoring.score_project(project=project, device=pick_device("cpu"))
    assert cold["cold_start"] and len(cold["queued_first"]) == 4
    device = pick_device("cpu")
    version = training.run_training(project=project, kind="segmenter", device=device)
    training.evaluate_and_promote(version=version, device=device)
    version.refresh_from_db()
    assert version.status == ModelStatus.PROMOTED
    out = scoring.score_project(project=project, device=device)
    assert out["scored"] == 10 and out["queued"] == 4
    scores = CaseScore.objects.filter(model_version=version)
    assert scores.count() == 10
    assert all(s.scores["mc_entropy"] >= 0 and s.scores["tta_variance"] >= 0 and s.scores["ood_mahalanobis"] is not None
               for s in scores)
    prios = dict(Case.objects.filter(pk__in=unlabelled).values_list("pk", "priority"))
    assert len(set(prios.values())) > 1 and all(np.isfinite(list(prios.values())))
    # the queue serves the case with the highest priority first
    order = list(Case.objects.filter(pk__in=unlabelled).order_by("-priority").values_list("pk", flat=True))
    assert order[0] == max(prios, key=prios.get)
    # the project's acquisition policy decides the order: OOD alone, by rank aggregation, top 1 first
    schedule.set_policy(project=project, acquisition={"strategy": "uncertainty", "method": "borda",
                                                      "weights": {"ood_mahalanobis": 1}, "batch": 1})
    scoring.score_project(project=project, device=device)
    ood = {s.case_id: s.scores["ood_mahalanobis"] for s in CaseScore.objects.filter(case__in=unlabelled)}
    top = Case.objects.filter(pk__in=unlabelled).order_by("-priority").first()
    assert top.pk == max(ood, key=ood.get) and top.priority >= 1.0
    # TypiClust on the cheap image features: a batch of 2 queued first, no score needed
    schedule.set_policy(project=project, acquisition={"strategy": "typical", "batch": 2})
    scoring.score_project(project=project, device=device)
    firsts = Case.objects.filter(pk__in=unlabelled, priority__gte=scoring.BATCH_BOOST)
    assert firsts.count() == 2
    assert Case.objects.filter(pk__in=unlabelled, priority__lte=1.0).count() == 2
    with pytest.raises(InvalidInput, match="unknown score"):
        schedule.set_policy(project=project, acquisition={"weights": {"entropy": 1}})
    audit = BiasAudit.objects.get(pk=out["audit"])
    assert len(audit.per_case) == 6
    assert all(0.0 <= c["rca_dice"] <= 1.0 and 0.0 <= c["true_dice"] <= 1.0 for c in audit.per_case)
    comparisons = audit.result["comparisons"]
    assert comparisons, "the LIDC manifest gives contrast and slice-thickness groups"
    for c in comparisons:
        assert c["ci_low"] <= c["delta"] <= c["ci_high"] and 0 <= c["p_value"] <= 1


def test_score_endpoint_and_learning_view_show_audits(tmp_path):
    from django.contrib.auth import get_user_model

    from core.models import Role
    from core.services.projects import set_member

    project, _ = _lidc_project(tmp_path, "scoreapi", n_labelled=2, n_unlabelled=2)
    manager = get_user_model().objects.create_user("sm", password="x" * 10)
    set_member(project=project, user=manager, role=Role.MANAGER)
    c = APIClient()
    c.force_authenticate(manager)
    assert c.post(f"/api/projects/{project.slug}/score/").status_code == 202
    view = c.get(f"/api/projects/{project.slug}/learning/").json()
    assert view["audits"] == [] and view["scores"] == []
    assert view["policy"]["acquisition"]["strategy"] == "uncertainty_diversity"
    bad = c.patch(f"/api/projects/{project.slug}/learning/", {"acquisition": {"method": "sum"}}, format="json")
    assert bad.status_code == 400 and "method must be one of" in bad.json()["detail"]
    ok = c.patch(f"/api/projects/{project.slug}/learning/", {"acquisition": {"strategy": "random", "batch": 3}}, format="json")
    assert ok.status_code == 200 and ok.json()["policy"]["acquisition"]["strategy"] == "random"
    assert ok.json()["policy"]["acquisition"]["batch"] == 3
