"""Who may read which labels: blinding enforced in the API (answering 404), not only in the UI."""

from __future__ import annotations

from annotation.models import Assignment, LabelKind, LabelVersion
from core.models import Case, CaseStatus
from core.queries import MANAGING_ROLES, role_in

__all__ = ["is_manager", "may_see_version", "may_see_agreement", "visible_versions"]


def is_manager(user, case: Case) -> bool:
    return role_in(user, case.project) in MANAGING_ROLES


def _unblinded(user, case: Case) -> bool:
    """Managers always; raters once the case is closed or in projects that are not blinded."""
    if is_manager(user, case):
        return True
    assigned = Assignment.objects.filter(case=case, rater=user).exists()
    return assigned and (case.status == CaseStatus.CLOSED or not case.project.blinded)


def may_see_version(user, version: LabelVersion) -> bool:
    if version.rater_id == user.pk and version.kind == LabelKind.RATER:
        return True
    return _unblinded(user, version.case)


def may_see_agreement(user, case: Case) -> bool:
    return _unblinded(user, case)


def visible_versions(user, case: Case):
    qs = LabelVersion.objects.filter(case=case).select_related("rater").order_by("created_at", "id")
    return qs if _unblinded(user, case) else qs.filter(rater=user, kind=LabelKind.RATER)
