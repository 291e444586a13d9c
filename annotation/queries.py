"""Reads shared by views and core's visibility seam."""

from __future__ import annotations

from django.db.models import QuerySet

from core.models import Case

__all__ = ["cases_visible_to_annotator"]


def cases_visible_to_annotator(user, cases: QuerySet[Case]) -> QuerySet[Case]:
    """Annotators see only the cases assigned to them (settings.CONCORD_CASE_VISIBILITY)."""
    return cases.filter(assignments__rater=user)
