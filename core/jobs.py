"""The one seam through which work is started: a Job row plus a Celery message sent by name.

Views and services call :func:`enqueue`; the task in ``workers/`` loads the Job by id and reports
progress on it. Kinds are explicit constants so that moving a module never orphans a queued
message, and queue routing (``cpu`` / ``gpu``) lives in ``workers/routing.py``, not here.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

from celery import Celery
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.models import Job, JobStatus

__all__ = ["INGEST", "PRESEGMENT", "TRAIN", "EVALUATE", "AGREEMENT", "EXPORT", "SCORE", "enqueue", "JobReporter"]

INGEST = "concord.ingest"
PRESEGMENT = "concord.presegment"
TRAIN = "concord.train"
EVALUATE = "concord.evaluate"
AGREEMENT = "concord.agreement"
EXPORT = "concord.export"
SCORE = "concord.score"


@functools.cache
def _client() -> Celery:
    """A Celery app used only to send messages; configured from Django settings (CELERY_*)."""
    app = Celery("concord", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):  # the embedded broker's folders
        for folder in settings.CELERY_BROKER_TRANSPORT_OPTIONS.values():
            Path(folder).mkdir(parents=True, exist_ok=True)
    return app


def enqueue(kind: str, *, project=None, user=None, **arguments: Any) -> Job:
    """Create a Job and send its task once the surrounding transaction commits.

    Args:
        kind: one of the kind constants of this module (the Celery task name).
        project, user: optional owners, for scoping the job list.
        arguments: JSON-serialisable task arguments, kept on the Job row.
    """
    job = Job.objects.create(kind=kind, arguments=arguments, project=project, created_by=user)
    transaction.on_commit(lambda: _client().send_task(kind, args=[job.pk]))
    return job


class JobReporter:
    """Writes status and progress of one Job, at most about once a second (tasks and CLIs share it)."""

    def __init__(self, job_id: int | None, *, min_interval_s: float = 1.0) -> None:
        self.job_id = job_id
        self.min_interval_s = min_interval_s
        self._last = 0.0

    def _update(self, **fields: Any) -> None:
        if self.job_id is not None:
            Job.objects.filter(pk=self.job_id).update(**fields)

    def start(self) -> None:
        self._update(status=JobStatus.RUNNING, started_at=timezone.now(), error="")

    def progress(self, fraction: float, message: str = "") -> None:
        now = time.monotonic()
        if now - self._last >= self.min_interval_s or fraction >= 1.0:
            self._last = now
            self._update(progress=max(0.0, min(1.0, fraction)), message=message[:500])

    def succeed(self, result: Any) -> None:
        self._update(status=JobStatus.SUCCEEDED, progress=1.0, result=result, finished_at=timezone.now())

    def fail(self, error: str) -> None:
        self._update(status=JobStatus.FAILED, error=error, finished_at=timezone.now())
