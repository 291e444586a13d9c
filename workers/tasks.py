"""Celery tasks: thin glue from a Job row to one service call.

Each task takes a Job id, refuses a job that already finished (idempotent re-delivery under
``acks_late``), reports progress on the Job, and records the result or the error.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from celery import shared_task

from core import jobs
from core.errors import ConcordError, TransientError
from annotation.services.consensus import settle_case
from core.models import Case, Job, JobStatus, Project
from core.services.ingest import ingest

_TASK = dict(bind=True, acks_late=True, autoretry_for=(TransientError,), retry_backoff=True, max_retries=5)


def _claim(job_id: int) -> Job | None:
    """The Job to run, or None if it already succeeded (a redelivered message)."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.status == JobStatus.SUCCEEDED:
        return None
    return job


@shared_task(name=jobs.INGEST, **_TASK)
def ingest_job(self, job_id: int) -> None:
    job = _claim(job_id)
    if job is None:
        return
    reporter = jobs.JobReporter(job.pk)
    reporter.start()
    args = job.arguments
    path = Path(args["path"])
    try:
        project = Project.objects.get(slug=args["project_slug"])
        cases = ingest(path=path, project=project, progress=reporter.progress)
        reporter.succeed({"cases": [c.to_dict() for c in cases]})
    except ConcordError as exc:
        if isinstance(exc, TransientError):
            raise
        reporter.fail(str(exc))
    except Exception as exc:  # unexpected: record it for the API, then let Celery log it
        reporter.fail(f"internal error: {type(exc).__name__}: {exc}")
        raise
    finally:
        # an uploaded file is removed once the job has finished either way (not before a retry)
        finished = Job.objects.filter(pk=job_id, status__in=[JobStatus.SUCCEEDED, JobStatus.FAILED]).exists()
        if args.get("cleanup") and finished:
            shutil.rmtree(path.parent, ignore_errors=True)


@shared_task(name=jobs.AGREEMENT, **_TASK)
def agreement_job(self, job_id: int) -> None:
    """All raters have submitted: agreement report, then consensus or the adjudication flag."""
    job = _claim(job_id)
    if job is None:
        return
    reporter = jobs.JobReporter(job.pk)
    reporter.start()
    try:
        case = Case.objects.select_related("project", "volume").get(pk=job.arguments["case_id"])
        reporter.succeed(settle_case(case))
    except ConcordError as exc:
        if isinstance(exc, TransientError):
            raise
        reporter.fail(str(exc))
