"""Retraining policy: by crontab (a django-celery-beat periodic task per project) and/or after N
new labelled cases (checked by one periodic task for all projects)."""

from __future__ import annotations

import json
from datetime import datetime

from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from annotation.models import LabelVersion
from core.errors import InvalidInput
from core.models import Job, JobStatus, Project, Volume
from learning.acquisition import AcquisitionPolicy
from learning.configs import check_train_config, voxel_dtype
from learning.models import ProjectLearning
from learning.services.registry import learning_state, request_training

__all__ = ["RETRAIN_CHECK", "set_policy", "check_retrain_policies", "ensure_policy_check"]

RETRAIN_CHECK = "concord.retrain_check"
RETRAIN_PROJECT = "concord.retrain_project"


def _crontab(expr: str) -> CrontabSchedule:
    parts = expr.split()
    if len(parts) != 5:
        raise InvalidInput(f"retrain_cron {expr!r}: expected 5 fields 'minute hour day month weekday'")
    m, h, dom, mon, dow = parts
    try:
        from celery.schedules import crontab

        crontab(minute=m, hour=h, day_of_month=dom, month_of_year=mon, day_of_week=dow)
    except Exception as exc:
        raise InvalidInput(f"retrain_cron {expr!r}: {exc}") from exc
    sched, _ = CrontabSchedule.objects.get_or_create(minute=m, hour=h, day_of_month=dom, month_of_year=mon,
                                                     day_of_week=dow, timezone="UTC")
    return sched


@transaction.atomic
def set_policy(*, project: Project, cron: str | None = None, after_n: int | None = None,
               train_config: dict | None = None, acquisition: dict | None = None) -> ProjectLearning:
    """Set the project's retraining and acquisition policies; keeps its beat entry in step.

    ``train_config`` is checked against the project's volumes before anything is stored (every kind's
    section, as its training would build it): a bad setting raises ``InvalidInput`` naming it.
    """
    state = learning_state(project)
    if acquisition is not None:
        try:
            state.acquisition = AcquisitionPolicy.from_dict(acquisition).to_dict()
        except (TypeError, ValueError) as e:
            raise InvalidInput(f"acquisition: {e}") from e
    if cron is not None:
        state.retrain_cron = cron.strip()
    if after_n is not None:
        if after_n < 0:
            raise InvalidInput("retrain_after_consensus must be >= 0")
        state.retrain_after_consensus = after_n
    if train_config is not None:
        state.train_config = _check_against_volumes(project, train_config)
    state.save()
    name = f"retrain:{project.slug}"
    if state.retrain_cron:
        PeriodicTask.objects.update_or_create(name=name, defaults={
            "task": RETRAIN_PROJECT, "crontab": _crontab(state.retrain_cron), "interval": None,
            "kwargs": json.dumps({"project_id": project.pk}), "enabled": True})
    else:
        PeriodicTask.objects.filter(name=name).delete()
    if state.retrain_after_consensus:
        ensure_policy_check()
    return state


def _check_against_volumes(project: Project, train_config: object) -> dict:
    """``check_train_config`` against the project's volumes as they are now."""
    vols = list(Volume.objects.filter(case__project=project).values_list("shape", "dtype"))
    return check_train_config(train_config, shapes=[s for s, _ in vols], dtype=voxel_dtype([d for _, d in vols]))


def train_config_problem(project: Project) -> str | None:
    """Why the stored ``train_config`` no longer fits the project's volumes; None when it fits.

    Why: the setting is checked when it is set, but it overrides a default built from the volumes
    (2D on slices for thin stacks, 3D patches for volumes), and volumes imported later can change that
    default, e.g. thin crops added to a volumetric project. Managers see the reason beside the policy
    before a training fails on it.
    """
    state = learning_state(project)
    if not state.train_config:
        return None
    try:
        _check_against_volumes(project, state.train_config)
    except InvalidInput as e:
        return str(e)
    return None


def ensure_policy_check(every_s: int = 300) -> PeriodicTask:
    """The one periodic task that checks the "after N new labels" policies."""
    interval, _ = IntervalSchedule.objects.get_or_create(every=every_s, period=IntervalSchedule.SECONDS)
    task, _ = PeriodicTask.objects.update_or_create(name="retrain:check", defaults={
        "task": RETRAIN_CHECK, "interval": interval, "crontab": None, "enabled": True})
    return task


def check_retrain_policies(now: datetime | None = None) -> list[int]:
    """Request a training for every project with N or more newly labelled cases; returns job ids."""
    started = []
    for state in ProjectLearning.objects.filter(retrain_after_consensus__gt=0).select_related("project"):
        if state.training_job_id and Job.objects.filter(
                pk=state.training_job_id, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).exists():
            continue  # the running training already covers these labels
        labelled = LabelVersion.objects.filter(case__project=state.project).values("case").distinct().count()
        if labelled - state.labels_at_last_training >= state.retrain_after_consensus:
            started.append(request_training(project=state.project).pk)
    return started


