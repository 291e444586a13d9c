"""Assignment: who labels which case next.

Each case goes to ``project.raters_per_case`` raters, taken from the queue by acquisition
priority (then oldest first). A rater's open assignment is resumed before a new one is taken.
The chosen case row is locked (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL) so that a
burst of concurrent requests never over-assigns a case.
"""

from __future__ import annotations

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q

from annotation.models import Assignment, AssignmentStatus
from core.models import Case, CaseStatus, Project

__all__ = ["next_assignment"]


def _candidates(project: Project, rater, limit: int) -> list[int]:
    return list(
        Case.objects.filter(project=project, status__in=[CaseStatus.NEW, CaseStatus.IN_PROGRESS])
        .annotate(n=Count("assignments"), mine=Count("assignments", filter=Q(assignments__rater=rater)))
        .filter(n__lt=project.raters_per_case, mine=0)
        .order_by("-priority", "created_at", "id")
        .values_list("id", flat=True)[:limit]
    )


def next_assignment(*, project: Project, rater) -> Assignment | None:
    """The rater's open assignment in the project, else a new one on the next queued case.

    Returns None when the queue has nothing left for this rater.
    """
    open_one = (Assignment.objects.select_related("case__project", "case__volume").filter(
        case__project=project, rater=rater, status=AssignmentStatus.ASSIGNED).order_by("created_at").first())
    if open_one is not None:
        return open_one
    for _ in range(5):  # a few rounds in case concurrent raters took our candidates
        ids = _candidates(project, rater, limit=8)
        if not ids:
            return None
        for case_id in ids:
            assignment = _try_assign(case_id, project, rater)
            if assignment is not None:
                return assignment
    return None


def _try_assign(case_id: int, project: Project, rater) -> Assignment | None:
    try:
        with transaction.atomic():
            qs = Case.objects.filter(pk=case_id).select_related("project", "volume")
            if connection.features.has_select_for_update_skip_locked:
                qs = qs.select_for_update(skip_locked=True, of=("self",))
            case = qs.first()
            if case is None:
                return None  # locked by another request: try the next candidate
            taken = Assignment.objects.filter(case=case).count()
            if taken >= project.raters_per_case or case.status == CaseStatus.CLOSED:
                return None
            assignment = Assignment.objects.create(case=case, rater=rater)
            if case.status == CaseStatus.NEW:
                Case.objects.filter(pk=case.pk).update(status=CaseStatus.IN_PROGRESS)
                case.status = CaseStatus.IN_PROGRESS
            assignment.case = case
            return assignment
    except IntegrityError:  # the same rater raced himself to this case
        return None
