"""Who may do what in a project: decided here, scoped in each view's get_queryset."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from core.models import Project
from core.queries import MANAGING_ROLES, role_in


def _project_of(obj) -> Project:  # noqa: ANN001
    if isinstance(obj, Project):
        return obj
    if hasattr(obj, "project"):
        return obj.project
    return obj.case.project


class IsProjectManagerOrReadOnly(BasePermission):
    """Members read; managers and admins change the project, its members and its cases."""

    def has_object_permission(self, request, view, obj) -> bool:  # noqa: ANN001
        role = role_in(request.user, _project_of(obj))
        if role is None:
            return False
        return request.method in SAFE_METHODS or role in MANAGING_ROLES


class IsProjectManager(BasePermission):
    def has_object_permission(self, request, view, obj) -> bool:  # noqa: ANN001
        return role_in(request.user, _project_of(obj)) in MANAGING_ROLES
