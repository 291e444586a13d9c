"""PULASki and the shape prior as trainable kinds. PULASki: trained on every rater's masks through
the API and the Celery worker, validated by GED against the raters, promoted only when its GED is
lower. Shape prior (DAE): trained on consensus shapes, validated by denoising Dice. Their sample
diversity and anatomically-aware uncertainty become acquisition scores."""

from __future__ import annotations

import numpy as np
import pytest

from core.models import Case, JobStatus
from learning.device import pick_device
from learning.models import CaseScore, ModelKind, ModelStatus, ModelVersion
from learning.services import pulaski, schedule, scoring, trainers
from tests.integration.conftest import client_for, make_user, wait_for_job
from tests.integration.learning.test_training_loop import TINY, _lidc_project, _wait

pytestmark = pytest.mark.django_db(transaction=True)

DAE = {"iterations": 20, "batch_size": 8, "net": {"channels": [4, 8, 16]}}
# output prior 0.7: the samples start (and after 20 steps stay) mostly foreground, so this tiny net is
# live, not good. From the 0.02 default, 20-100 steps gave all-empty samples, which the collapse guard rejects
PUL = {"iterations": 20, "batch_size": 4,
       "net": {"channels": [4, 8, 16], "strides": [2, 2], "num_res_units": 0, "output_prior": 0.7}}


def test_pulaski_trains_on_raters_validates_by_ged_and_scores(celery_worker, tmp_path):
    from core.models import Role
    from core.services.projects import set_member

    project, unlabelled = _lidc_project(tmp_path, "pul", n_labelled=5, n_unlabelled=2)
    schedule.set_policy(project=project, train_config={**TINY, "pulaski": PUL, "shape_dae": DAE})
    manager = make_user("pulmgr")
    set_member(project=project, user=manager, role=Role.MANAGER)
    api = client_for(manager)
    resp = api.post(f"/api/projects/{project.slug}/train/", {"kind": "pulaski"}, format="json")
    assert resp.status_code == 202, resp.content
    job = wait_for_job(resp.json()["id"], timeout=300)
    assert job.status == JobStatus.SUCCEEDED, job.error
    v1 = ModelVersion.objects.get(pk=job.result["model_version"])
    assert v1.kind == ModelKind.PULASKI and v1.config["n_raters"] == 4 and v1.metrics["n_slices"] > 0
    assert len(v1.trained_on) == 4 * (5 - len(v1.validation_cases))  # every rater's version, training cases only
    _wait(lambda: ModelVersion.objects.get(pk=v1.pk).status != ModelStatus.CANDIDATE, timeout=300, what="evaluation")
    v1.refresh_from_db()
    assert v1.status == ModelStatus.PROMOTED and 0.0 <= v1.metrics["val_ged"] <= 2.0, v1.metrics
    assert 0.0 < v1.metrics["val_sample_presence"] <= 1.0 and "rejected_because" not in v1.metrics
    assert v1.metrics["restarts"] == 0 and v1.metrics["train_presence"] > 0  # live: never retrained
    assert set(map(int, v1.metrics["val_ged_per_case"])) <= set(v1.validation_cases)

    # the stored weights give back a working sampler: 8 samples per slice, probabilities in [0, 1]
    config, model = pulaski.load(v1)
    case = Case.objects.select_related("volume").get(pk=v1.validation_cases[0])
    from core.storage import open_volume

    image = open_volume(case.volume.store_url).read(0)
    probs = pulaski.case_samples(image, model, config, zs=np.arange(image.shape[0]), device=pick_device("cpu"))
    assert probs.shape == (pulaski.SAMPLES, *image.shape) and 0.0 <= probs.min() and probs.max() <= 1.0

    # a second version is promoted only if its validation GED is lower than v1's
    schedule.set_policy(project=project, train_config={**TINY, "pulaski": {**PUL, "iterations": 25}, "shape_dae": DAE})
    v2 = trainers.train(project=project, kind=ModelKind.PULASKI, device=pick_device("cpu"))
    out = trainers.evaluate(version=v2, device=pick_device("cpu"))
    v2.refresh_from_db()
    assert out["promoted"] == (v2.metrics["val_ged"] < v1.metrics["val_ged"]) and out["compared_val_ged"] == v1.metrics["val_ged"]
    assert v2.status == (ModelStatus.PROMOTED if out["promoted"] else ModelStatus.REJECTED)

    # the shape prior: trained on the consensus shapes, validated by restoring corrupted slices
    dae = trainers.train(project=project, kind=ModelKind.SHAPE_DAE, device=pick_device("cpu"))
    assert dae.kind == ModelKind.SHAPE_DAE and dae.metrics["n_slices"] > 0
    out = trainers.evaluate(version=dae, device=pick_device("cpu"))
    dae.refresh_from_db()
    assert out["promoted"] and dae.status == ModelStatus.PROMOTED and 0.0 <= dae.metrics["val_denoise_dice"] <= 1.0
    # evaluating it again (a redelivered job; the worker evaluates it too) changes nothing
    again = trainers.evaluate(version=dae, device=pick_device("cpu"))
    assert again["promoted"] and again.get("already_decided") and again["val_denoise_dice"] == dae.metrics["val_denoise_dice"]
    assert ModelVersion.objects.get(pk=dae.pk).status == ModelStatus.PROMOTED

    # with a segmenter promoted too, scoring adds PULASki's sample diversity and the anatomical score
    segmenter = trainers.train(project=project, kind=ModelKind.SEGMENTER, device=pick_device("cpu"))
    trainers.evaluate(version=segmenter, device=pick_device("cpu"))
    segmenter.refresh_from_db()
    assert segmenter.status == ModelStatus.PROMOTED
    scoring.score_project(project=project, device=pick_device("cpu"))
    scores = CaseScore.objects.filter(model_version=segmenter)
    assert scores.count() == 7
    assert all(s.scores["pulaski_ged"] is not None and 0.0 <= s.scores["pulaski_ged"] <= 1.0 for s in scores)
    assert all(s.scores["anatomical"] is not None and s.scores["anatomical"] >= 0.0 for s in scores), [s.scores for s in scores]


def test_pulaski_3d_trains_on_patches_and_samples_whole_blocks(tmp_path):
    """A 3D PULASki (``net.spatial_dims`` 3): trained on 3D patches of every rater's masks, validated by
    GED on the validation cases' outlined slices, and its samples are 3D blocks of the case's shape."""
    from core.storage import open_volume

    project, _ = _lidc_project(tmp_path, "pul3d", n_labelled=5, n_unlabelled=1)
    pul3 = {"iterations": 15, "batch_size": 2, "patch": [8, 32, 32],
            "net": {"spatial_dims": 3, "channels": [4, 8], "strides": [2], "num_res_units": 0}}
    schedule.set_policy(project=project, train_config={**TINY, "pulaski": pul3})
    device = pick_device("cpu")
    v = trainers.train(project=project, kind=ModelKind.PULASKI, device=device)
    assert v.config["patch"] == [8, 32, 32] and v.config["train"]["net"]["spatial_dims"] == 3
    n_train = 5 - len(v.validation_cases)
    assert v.metrics["n_patches"] >= 2 * n_train and "n_slices" not in v.metrics  # fg-centred + anywhere
    out = trainers.evaluate(version=v, device=device)
    v.refresh_from_db()
    assert 0.0 <= v.metrics["val_ged"] <= 2.0 and out["promoted"] == (v.status == ModelStatus.PROMOTED)
    config, model = pulaski.load(v)
    assert model.config.spatial_dims == 3
    case = Case.objects.select_related("volume").get(pk=v.validation_cases[0])
    image = open_volume(case.volume.store_url).read(0)
    zs = np.arange(1, image.shape[0])
    probs = pulaski.case_samples(image, model, config, zs=zs, device=device)
    assert probs.shape == (pulaski.SAMPLES, len(zs), *image.shape[1:]) and 0.0 <= probs.min() and probs.max() <= 1.0
    assert pulaski.case_diversity(image, model, config, zs=zs, device=device) >= 0.0


def test_a_collapsed_pulaski_is_rejected_even_as_the_first_version(tmp_path):
    """A PULASki whose samples are all empty still has a finite GED (near 2 where every rater outlines);
    as a project's first version it would be promoted and call every case certain. It is rejected,
    with the reason in its metrics, and no curve point claims a promotion."""
    from learning.models import CurvePoint

    project, _ = _lidc_project(tmp_path, "pulcollapse", n_labelled=4, n_unlabelled=0)
    # an output prior of 1e-9 (logit -20.7) and one step: every sample probability is ~0
    collapsed = {**PUL, "iterations": 1, "net": {**PUL["net"], "output_prior": 1e-9}}
    schedule.set_policy(project=project, train_config={**TINY, "pulaski": collapsed})
    device = pick_device("cpu")
    v = trainers.train(project=project, kind=ModelKind.PULASKI, device=device)
    out = trainers.evaluate(version=v, device=device)
    v.refresh_from_db()
    assert v.metrics["val_sample_presence"] == 0.0 and 0.0 < v.metrics["val_ged"] <= 2.0, v.metrics
    assert v.metrics["restarts"] == 1 and v.metrics["train_presence"] == 0.0  # retrained once, still collapsed
    assert not out["promoted"] and v.status == ModelStatus.REJECTED
    assert out["rejected_because"] == v.metrics["rejected_because"] and "collapsed" in out["rejected_because"]
    assert not ModelVersion.objects.filter(project=project, kind=ModelKind.PULASKI, status=ModelStatus.PROMOTED).exists()
    assert CurvePoint.objects.get(model_version=v).metrics["promoted"] is False
