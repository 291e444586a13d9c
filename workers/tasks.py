"""Celery tasks: thin glue from a Job row to one service call.

Each task takes a Job id, refuses a job that already succeeded (idempotent re-delivery under
``acks_late``), reports progress on the Job, and records the result or the error. Bad input
fails once with its reason on the Job; only TransientError is retried.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from celery import shared_task

from annotation.services.consensus import settle_case
from core import jobs
from core.errors import ConcordError, TransientError
from core.models import Case, Job, JobStatus, Project
from core.services.ingest import ingest
from learning.device import pick_device
from learning.models import ModelVersion
from learning.services import presegment, registry, schedule, scoring, trainers

_TASK = dict(bind=True, acks_late=True, autoretry_for=(TransientError,), retry_backoff=True, max_retries=5)


def _run(job_id: int, work: Callable[[Job, jobs.JobReporter], object]) -> None:
    """Claim the Job, run ``work``, record success or failure on the row."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.status == JobStatus.SUCCEEDED:
        return  # unknown, or a redelivered message of a finished job
    reporter = jobs.JobReporter(job.pk)
    reporter.start()
    try:
        reporter.succeed(work(job, reporter))
    except TransientError:
        raise
    except ConcordError as exc:
        reporter.fail(str(exc))
    except Exception as exc:  # unexpected: recorded for the API, then logged by Celery
        reporter.fail(f"internal error: {type(exc).__name__}: {exc}")
        raise


@shared_task(name=jobs.INGEST, **_TASK)
def ingest_job(self, job_id: int) -> None:
    def work(job: Job, reporter: jobs.JobReporter) -> dict:
        path = Path(job.arguments["path"])
        try:
            project = Project.objects.get(slug=job.arguments["project_slug"])
            cases = ingest(path=path, project=project, progress=reporter.progress)
            return {"cases": [c.to_dict() for c in cases]}
        finally:
            if job.arguments.get("cleanup"):
                shutil.rmtree(path.parent, ignore_errors=True)  # the uploaded file, success or not

    _run(job_id, work)


@shared_task(name=jobs.AGREEMENT, **_TASK)
def agreement_job(self, job_id: int) -> None:
    """All raters have submitted: agreement report, then consensus or the adjudication flag."""
    _run(job_id, lambda job, r: settle_case(
        Case.objects.select_related("project", "volume").get(pk=job.arguments["case_id"])))


@shared_task(name=jobs.TRAIN, **_TASK)
def train_job(self, job_id: int) -> None:
    """Train a candidate (gpu queue); the project's training lock is released whatever happens."""
    def work(job: Job, reporter: jobs.JobReporter) -> dict:
        version = trainers.train(project=job.project, kind=job.arguments.get("model_kind", "segmenter"),
                                 device=pick_device(), job=job, progress=reporter.progress)
        return {"model_version": version.pk, "number": version.number, "metrics": {
            k: v for k, v in version.metrics.items() if k != "history"}}

    try:
        _run(job_id, work)
    finally:
        project = Project.objects.filter(jobs__pk=job_id).first()
        if project is not None:
            registry.finish_training(project)


@shared_task(name=jobs.EVALUATE, **_TASK)
def evaluate_job(self, job_id: int) -> None:
    """Score a candidate on the fixed validation cases (cpu queue); promote it if better."""
    _run(job_id, lambda job, r: trainers.evaluate(
        version=ModelVersion.objects.select_related("project").get(pk=job.arguments["model_version_id"]),
        device=pick_device("cpu"), progress=r.progress))


@shared_task(name=jobs.PRESEGMENT, **_TASK)
def presegment_job(self, job_id: int) -> None:
    """Pre-segment a project's unlabelled cases (or the given ones) with the promoted model (gpu)."""
    _run(job_id, lambda job, r: presegment.presegment_project(
        project=Project.objects.get(pk=job.arguments["project_id"]), device=pick_device(),
        case_ids=job.arguments.get("case_ids"), progress=r.progress))


@shared_task(name=jobs.SCORE, **_TASK)
def score_job(self, job_id: int) -> None:
    """Uncertainty, OOD and RCA scores with the promoted model; queue priorities; bias audit."""
    _run(job_id, lambda job, r: scoring.score_project(
        project=Project.objects.get(pk=job.arguments["project_id"]), device=pick_device(), progress=r.progress))


@shared_task(name=schedule.RETRAIN_CHECK)
def retrain_check() -> list[int]:
    """Beat: start trainings for projects past their "after N new labels" threshold."""
    return schedule.check_retrain_policies()


@shared_task(name=schedule.RETRAIN_PROJECT)
def retrain_project(project_id: int) -> int:
    """Beat (crontab per project): request a training of the project's segmenter."""
    return registry.request_training(project=Project.objects.get(pk=project_id)).pk
