"""Integration fixtures: real PostgreSQL (pytest-django's test database), Redis, and a real
Celery worker process consuming the test database and a shared store."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import REPO

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session", autouse=True)
def _require_real_services():
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine or not settings.REDIS_URL:
        pytest.fail("integration tests need DATABASE_URL (PostgreSQL) and REDIS_URL; run ./test.sh")


@pytest.fixture(autouse=True)
def _store(settings, tmp_path_factory):
    """Every test writes to a store folder that the worker process shares."""
    settings.STORE_URL = os.environ.get("STORE_URL") or str(tmp_path_factory.getbasetemp() / "zarr")


@pytest.fixture(scope="session")
def _celery_worker_process(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real ``celery worker`` process on the test database and the Redis broker."""
    import redis

    from django.db import connection

    redis.Redis.from_url(settings.REDIS_URL).flushdb()  # no stale messages from earlier runs
    db = connection.settings_dict
    url = f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    log_path = Path(os.environ.get("CONCORD_WORKER_LOG", REPO / "artifacts" / "worker.log"))
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": settings.REDIS_URL,
           "STORE_URL": os.environ.get("STORE_URL") or str(tmp_path_factory.getbasetemp() / "zarr")}
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", "cpu,gpu", "--concurrency", "2",
         "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--hostname", "test@%h"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"celery worker exited with {proc.returncode}; see {log_path}")
        if "ready." in log_path.read_text(errors="replace"):
            break
        time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail(f"celery worker did not start in 90 s; see {log_path}")
    yield log_path
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def make_user(name: str):
    """A user with a password (API tests authenticate with force_authenticate or a token)."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(name, password="pw-12345678")


def client_for(user):
    """A DRF test client authenticated as ``user``."""
    from rest_framework.test import APIClient

    c = APIClient()
    c.force_authenticate(user)
    return c


def wait_for_job(job_id: int, *, timeout: float = 120.0):
    """Poll a Job row until it finishes; returns it."""
    from core.models import Job, JobStatus

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
            return job
        time.sleep(0.25)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s (status {job.status}, {job.message})")


@pytest.fixture
def celery_worker(_celery_worker_process, transactional_db):
    """The worker, for one test; afterwards waits for the test's jobs to finish before the
    database is flushed (a worker writing during the flush would deadlock it)."""
    yield _celery_worker_process
    from core.models import Job, JobStatus

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if not Job.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).exists():
            break
        time.sleep(0.3)
    time.sleep(0.5)  # let the worker finish acknowledging its last message
