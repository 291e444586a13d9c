"""The model registry's request side: start or queue a training, find and roll back versions.

Kept free of torch and MONAI so the web process (the API) imports it without loading them; the
training itself is ``learning.services.training`` and runs on workers.

- ``request_training`` is the one way to start a training: a second request while one runs is
  queued on the project's learning state (not dropped, not run concurrently).
- ``rollback`` re-promotes the version the promoted one replaced.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from core import jobs
from core.errors import Conflict, InvalidInput, NotFound
from core.models import Job, JobStatus, Project
from learning.models import ModelKind, ModelStatus, ModelVersion, ProjectLearning

__all__ = ["TRAINABLE", "learning_state", "request_training", "finish_training", "promoted", "rollback"]

TRAINABLE = (ModelKind.SEGMENTER, ModelKind.PULASKI, ModelKind.SHAPE_DAE)


def learning_state(project: Project) -> ProjectLearning:
    state, _ = ProjectLearning.objects.get_or_create(project=project)
    return state


def request_training(*, project: Project, kind: str = ModelKind.SEGMENTER, user=None) -> Job:
    """Start a training, or queue it behind the one running (returns that running job)."""
    if kind not in TRAINABLE:
        raise InvalidInput(f"model kind {kind!r} cannot be trained here; trainable: {', '.join(TRAINABLE)}")
    learning_state(project)
    with transaction.atomic():
        state = ProjectLearning.objects.select_for_update().get(project=project)
        running = state.training_job_id and Job.objects.filter(
            pk=state.training_job_id, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).exists()
        if running:
            if kind not in state.pending_kinds:
                state.pending_kinds = [*state.pending_kinds, kind]
                state.save(update_fields=["pending_kinds"])
            return state.training_job
        job = jobs.enqueue(jobs.TRAIN, project=project, user=user, project_id=project.pk, model_kind=kind)
        state.training_job = job
        state.save(update_fields=["training_job"])
        return job


def finish_training(project: Project) -> Job | None:
    """Release the lock after a training ended; start the queued request, if any."""
    with transaction.atomic():
        state = ProjectLearning.objects.select_for_update().get(project=project)
        state.training_job = None
        pending = list(state.pending_kinds)
        state.pending_kinds = []
        state.save(update_fields=["training_job", "pending_kinds"])
    return request_training(project=project, kind=pending[0]) if pending else None


def promoted(project: Project, kind: str) -> ModelVersion | None:
    return ModelVersion.objects.filter(project=project, kind=kind, status=ModelStatus.PROMOTED).first()


def rollback(*, project: Project, kind: str = ModelKind.SEGMENTER) -> ModelVersion:
    """Retire the promoted version and promote the one it replaced. One call."""
    with transaction.atomic():
        current = ModelVersion.objects.select_for_update().filter(
            project=project, kind=kind, status=ModelStatus.PROMOTED).first()
        if current is None:
            raise NotFound(f"project {project.slug} has no promoted {kind}")
        previous = (ModelVersion.objects.filter(project=project, kind=kind, promoted_at__isnull=False,
                                                promoted_at__lt=current.promoted_at)
                    .exclude(pk=current.pk).order_by("-promoted_at").first())
        if previous is None:
            raise Conflict(f"{kind} v{current.number} is the first promoted version: nothing to roll back to")
        ModelVersion.objects.filter(pk=current.pk).update(status=ModelStatus.RETIRED)
        ModelVersion.objects.filter(pk=previous.pk).update(status=ModelStatus.PROMOTED, promoted_at=timezone.now())
        previous.refresh_from_db()
        return previous
