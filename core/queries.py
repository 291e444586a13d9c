"""Reads shared by views: which projects and cases a user may see."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils.module_loading import import_string

from core.models import Case, Membership, Project, Role

__all__ = ["projects_for", "cases_for", "role_in", "MANAGING_ROLES"]

MANAGING_ROLES = (Role.MANAGER, Role.ADMIN)


def projects_for(user) -> QuerySet[Project]:
    """Projects the user belongs to (staff see all)."""
    if user.is_staff:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user).distinct()


def role_in(user, project: Project) -> str | None:
    """The user's role in the project, ``admin`` for staff, None for outsiders."""
    if user.is_staff:
        return Role.ADMIN
    return Membership.objects.filter(user=user, project=project).values_list("role", flat=True).first()


def cases_for(user) -> QuerySet[Case]:
    """Cases the user may see: every case for managers, assigned ones only for annotators.

    The annotator filter is the seam the annotation app fills (settings.CONCORD_CASE_VISIBILITY),
    so core never imports the layer above it.
    """
    cases = Case.objects.select_related("project", "volume")
    if user.is_staff:
        return cases
    managed = Membership.objects.filter(user=user, role__in=MANAGING_ROLES).values("project")
    annotated = Membership.objects.filter(user=user, role=Role.ANNOTATOR).values("project")
    visible_to_annotator = import_string(settings.CONCORD_CASE_VISIBILITY)
    assigned = visible_to_annotator(user, Case.objects.filter(project__in=annotated)).values("pk")
    return cases.filter(Q(project__in=managed) | Q(pk__in=assigned))
