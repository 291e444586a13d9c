"""The learning loop through real Celery worker (and beat) processes: train a tiny model on LIDC
cases, register and promote it, pre-segment, roll back; the training lock; scheduled retraining."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from django.db import connection

from core.models import Case, Job, JobStatus
from core.services.ingest import ingest
from core.services.projects import create_project
from core.storage import open_volume
from learning.models import CurvePoint, ModelStatus, ModelVersion, Prediction, ProjectLearning
from learning.services import registry, schedule, training
from tests.conftest import REPO, shared_data
from tests.integration.conftest import wait_for_job

pytestmark = pytest.mark.django_db(transaction=True)

TINY = {"net": {"channels": [4, 8, 16], "strides": [2, 2], "num_res_units": 0, "dropout": 0.1},
        "max_epochs": 1, "max_iterations": 3, "batch_size": 4, "samples_per_item": 2, "augment": None}


def _lidc_project(tmp_path, slug: str, n_labelled: int = 4, n_unlabelled: int = 1):
    """LIDC cases with four raters (alternating contrast / no contrast, so audits have two groups)."""
    lidc = shared_data("lidc")
    with (lidc / "manifest.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["raters_nonempty"] == "4" and int(r["n_slices"]) >= 3]
    by_contrast = [[r for r in rows if r["contrast_used"] == v] for v in ("0", "1")]
    rows = [r for pair in zip(*by_contrast) for r in pair]
    for r in rows[:n_labelled]:
        shutil.copytree(lidc / r["case_id"], tmp_path / "lab" / r["case_id"])
    for r in rows[n_labelled:n_labelled + n_unlabelled]:
        (tmp_path / "unl" / r["case_id"]).mkdir(parents=True)
        shutil.copy(lidc / r["case_id"] / "image.nii.gz", tmp_path / "unl" / r["case_id"] / "image.nii.gz")
    for folder in ("lab", "unl"):
        chosen = rows[:n_labelled] if folder == "lab" else rows[n_labelled:n_labelled + n_unlabelled]
        if chosen:
            with (tmp_path / folder / "manifest.csv").open("w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows(chosen)
    project = create_project(slug=slug)
    ingest(path=tmp_path / "lab", project=project)
    unlabelled = ingest(path=tmp_path / "unl", project=project) if n_unlabelled else []
    schedule.set_policy(project=project, train_config=TINY)
    return project, [c.case_id for c in unlabelled]


def _wait(predicate, timeout=240.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_train_promote_presegment_and_rollback(celery_worker, tmp_path):
    project, unlabelled = _lidc_project(tmp_path, "loop")
    job = registry.request_training(project=project)
    job = wait_for_job(job.pk, timeout=300)
    assert job.status == JobStatus.SUCCEEDED, job.error
    v1 = ModelVersion.objects.get(pk=job.result["model_version"])
    assert len(v1.trained_on) >= 3 * 4 and v1.validation_cases  # four raters' versions per training case
    evaluate = _wait(lambda: Job.objects.filter(kind="concord.evaluate", arguments__model_version_id=v1.pk,
                                                status__in=["succeeded", "failed"]).first(), what="evaluation")
    assert evaluate.status == "succeeded", evaluate.error
    v1.refresh_from_db()
    assert v1.status == ModelStatus.PROMOTED and v1.metrics["val_dice"] is not None
    assert CurvePoint.objects.filter(project=project, model_version=v1).exists()
    pre = _wait(lambda: Job.objects.filter(kind="concord.presegment", project=project,
                                           status__in=["succeeded", "failed"]).first(), what="pre-segmentation")
    assert pre.status == "succeeded", pre.error
    prediction = Prediction.objects.get(case_id=unlabelled[0], model_version=v1)
    case = Case.objects.select_related("volume").get(pk=unlabelled[0])
    assert case.presegmentation_label == prediction.segmentation_label
    store = open_volume(case.volume.store_url)
    prob = store.open_label(prediction.probability_label).read()
    assert prob.shape == tuple(case.volume.shape) and prob.max() > 0
    seg = store.open_label(prediction.segmentation_label).read()
    np.testing.assert_array_equal(seg, (prob >= 128).astype(np.uint8) | (seg & (prob == 127)))
    # the same inputs give the same artefact: a rerun returns v1, no duplicate row
    from learning.device import pick_device

    again = training.run_training(project=project, kind="segmenter", device=pick_device("cpu"))
    assert again.pk == v1.pk and ModelVersion.objects.filter(project=project).count() == 1
    # a second, different training (more labels) makes v2; rollback re-promotes v1 in one call
    state = ProjectLearning.objects.get(project=project)
    ModelVersion.objects.filter(pk=v1.pk).update(metrics={**v1.metrics, "val_dice": -1.0})  # v2 will win
    schedule.set_policy(project=project, train_config={**TINY, "seed": 1})
    job2 = wait_for_job(registry.request_training(project=project).pk, timeout=300)
    v2 = ModelVersion.objects.get(pk=job2.result["model_version"])
    _wait(lambda: ModelVersion.objects.get(pk=v2.pk).status != ModelStatus.CANDIDATE, what="v2 evaluation")
    assert ModelVersion.objects.get(pk=v2.pk).status == ModelStatus.PROMOTED
    assert ModelVersion.objects.get(pk=v1.pk).status == ModelStatus.RETIRED
    assert registry.rollback(project=project).pk == v1.pk
    assert ModelVersion.objects.get(pk=v2.pk).status == ModelStatus.RETIRED
    assert state.validation_case_ids == ProjectLearning.objects.get(project=project).validation_case_ids


def test_training_lock_queues_concurrent_requests(celery_worker, tmp_path):
    """Four concurrent requests while a training runs: one training at a time, and the later
    request queued (run after the first), not dropped and not run twice."""
    project, _ = _lidc_project(tmp_path, "lock", n_labelled=3, n_unlabelled=0)
    schedule.set_policy(project=project, train_config={**TINY, "max_iterations": 60, "max_epochs": 20})

    def request(_):
        try:
            return registry.request_training(project=project).pk
        finally:
            connection.close()

    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(request, range(4)))
    assert len(set(ids)) == 1, "two trainings were started at once"
    assert ProjectLearning.objects.get(project=project).pending_kinds == ["segmenter"]
    jobs = _wait(lambda: (lambda js: js if len(js) == 2 and all(j.finished_at for j in js) else None)(
        list(Job.objects.filter(kind="concord.train", project=project).order_by("id"))), timeout=300,
        what="the queued training to run")
    assert all(j.status == JobStatus.SUCCEEDED for j in jobs), [j.error for j in jobs]
    assert jobs[0].finished_at <= jobs[1].started_at, "the two trainings overlapped"
    state = _wait(lambda: (lambda st: st if st.training_job_id is None else None)(
        ProjectLearning.objects.get(project=project)), timeout=30, what="the lock to be released")
    assert state.pending_kinds == []
    # the same inputs twice: the queued run returns the first version, no duplicate
    assert jobs[0].result["model_version"] == jobs[1].result["model_version"]


def test_beat_fires_retraining_after_new_labels(celery_worker, tmp_path):
    """A real `celery beat` process (DatabaseScheduler, 1 s interval) triggers the retrain."""
    project, _ = _lidc_project(tmp_path, "beat", n_labelled=3, n_unlabelled=0)
    schedule.set_policy(project=project, after_n=2)
    task = schedule.ensure_policy_check(every_s=1)
    assert task.enabled
    db = connection.settings_dict
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
                                          f"{db['PORT'] or 5432}/{db['NAME']}"}
    log = open(REPO / "artifacts" / "beat.log", "w")
    beat = subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers", "beat", "--loglevel", "INFO",
                             "--schedule", str(tmp_path / "beat-schedule")], cwd=REPO, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        job = _wait(lambda: Job.objects.filter(kind="concord.train", project=project).first(), timeout=90,
                    what="beat to request a training")
    finally:
        beat.terminate()
        beat.wait(timeout=30)
        log.close()
    job = wait_for_job(job.pk, timeout=300)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert ProjectLearning.objects.get(project=project).labels_at_last_training == 3
    assert schedule.check_retrain_policies() == [], "no new labels since: no new training"


def test_cron_policy_creates_beat_entry_and_rejects_bad_cron():
    from django_celery_beat.models import PeriodicTask

    from core.errors import InvalidInput

    project = create_project(slug="cron")
    schedule.set_policy(project=project, cron="0 3 * * 1")
    task = PeriodicTask.objects.get(name="retrain:cron")
    assert task.task == "concord.retrain_project" and str(task.crontab.hour) == "3"
    with pytest.raises(InvalidInput, match="5 fields"):
        schedule.set_policy(project=project, cron="every night")
    schedule.set_policy(project=project, cron="")
    assert not PeriodicTask.objects.filter(name="retrain:cron").exists()


def test_a_segmenter_that_predicts_nothing_is_rejected_even_as_the_first_version(tmp_path):
    """A segmenter whose predictions are empty everywhere still has a finite validation Dice (0); as a
    project's first version it would be promoted and pre-segment nothing. It is rejected, with the
    reason in its metrics, and no curve point claims a promotion; a live net is judged by Dice alone.
    (Versions are created directly, not through ``register_version``: its queued evaluation would race
    with a worker of another test.)"""
    import torch

    from learning.device import pick_device
    from learning.models import ModelKind
    from learning.nets import build_segmenter
    from learning.services.weights import save_weights
    from learning.train import state_dict_bytes

    project, _ = _lidc_project(tmp_path, "segcollapse", n_labelled=4, n_unlabelled=0)
    device = pick_device("cpu")
    state, data, val = training.training_split(project)
    config = training.build_config(project, data, overrides=state.train_config)

    def version(number: int, model: torch.nn.Module) -> ModelVersion:
        url, sha = save_weights(state_dict_bytes(model))
        return ModelVersion.objects.create(
            project=project, kind=ModelKind.SEGMENTER, number=number, config=config.to_dict(), weights_url=url,
            weights_sha256=sha, trained_on=[], validation_cases=sorted(val), n_labelled_cases=len(data),
            inputs_key=f"collapse-test-{number}", metrics={})

    torch.manual_seed(0)
    model = build_segmenter(config.net)
    out_conv = [m for m in model.modules() if isinstance(m, torch.nn.modules.conv._ConvNd)][-1]
    with torch.no_grad():  # the output layer made constant: background wins on every voxel
        out_conv.weight.zero_()
        out_conv.bias.copy_(torch.tensor([50.0] + [-50.0] * (out_conv.bias.numel() - 1)) if out_conv.bias.numel() > 1
                            else torch.tensor([-50.0]))
    empty = version(1, model)
    out = training.evaluate_and_promote(version=empty, device=device)
    empty.refresh_from_db()
    assert empty.metrics["val_prediction_presence"] == 0.0 and empty.metrics["val_dice"] == 0.0, empty.metrics
    assert not out["promoted"] and empty.status == ModelStatus.REJECTED
    assert out["rejected_because"] == empty.metrics["rejected_because"] and "collapsed" in out["rejected_because"]
    assert not ModelVersion.objects.filter(project=project, status=ModelStatus.PROMOTED).exists()
    assert CurvePoint.objects.get(model_version=empty).metrics["promoted"] is False
    again = training.evaluate_and_promote(version=empty, device=device)  # a redelivered evaluation
    assert again["already_decided"] and again["rejected_because"] == out["rejected_because"]
    # a live net (foreground everywhere: Dice > 0 wherever there is a label) is judged by its Dice alone
    with torch.no_grad():
        out_conv.bias.copy_(-out_conv.bias)
    live = version(2, model)
    decided = training.evaluate_and_promote(version=live, device=device)
    live.refresh_from_db()
    assert live.metrics["val_prediction_presence"] == 1.0 and "rejected_because" not in decided
    assert decided["promoted"] and live.status == ModelStatus.PROMOTED
