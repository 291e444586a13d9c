"""Projects and members."""

from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from django.db import transaction

from core import jobs
from core.errors import InvalidInput
from core.models import Job, Membership, Project, Role

__all__ = ["DEFAULT_SCHEMA", "create_project", "get_or_create_project", "set_member", "start_upload_ingest"]

DEFAULT_SCHEMA = [{"value": 1, "name": "foreground", "color": "#ff4d4d"}]


@transaction.atomic
def create_project(*, slug: str, name: str | None = None, owner=None, **fields) -> Project:
    """Create a project; its creator becomes its admin."""
    if Project.objects.filter(slug=slug).exists():
        raise InvalidInput(f"project {slug!r} already exists")
    fields.setdefault("label_schema", DEFAULT_SCHEMA)
    project = Project.objects.create(slug=slug, name=name or slug, **fields)
    if owner is not None:
        Membership.objects.create(user=owner, project=project, role=Role.ADMIN)
    return project


def get_or_create_project(slug: str) -> tuple[Project, bool]:
    project = Project.objects.filter(slug=slug).first()
    if project:
        return project, False
    return create_project(slug=slug), True


def set_member(*, project: Project, user, role: str) -> Membership:
    if role not in Role.values:
        raise InvalidInput(f"unknown role {role!r}; expected one of {', '.join(Role.values)}")
    membership, _ = Membership.objects.update_or_create(user=user, project=project, defaults={"role": role})
    return membership


def start_upload_ingest(*, project: Project, upload, user) -> Job:
    """Keep an uploaded file under UPLOAD_DIR and enqueue its ingest (the worker deletes it after)."""
    folder = Path(settings.UPLOAD_DIR) / uuid.uuid4().hex
    folder.mkdir(parents=True)
    target = folder / Path(upload.name).name
    with target.open("wb") as fh:
        for chunk in upload.chunks():
            fh.write(chunk)
    with transaction.atomic():
        return jobs.enqueue(jobs.INGEST, project=project, user=user, path=str(target), project_slug=project.slug,
                            cleanup=True)
