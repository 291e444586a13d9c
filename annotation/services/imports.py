"""Label files found beside an image at ingest become submitted versions of named raters."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from annotation.models import Assignment, AssignmentStatus, LabelKind, LabelVersion
from core.models import Case, Membership, Role

__all__ = ["record_imported_labels", "imported_rater"]


def imported_rater(name: str):
    """The (inactive, password-less) user standing for a rater known only by name in the files."""
    user, created = get_user_model().objects.get_or_create(username=name, defaults={"is_active": False})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


@transaction.atomic
def record_imported_labels(*, case: Case, labels: dict[str, dict]) -> list[LabelVersion]:
    """Create one submitted version per rater ({rater: {"store_label", "checksum"}})."""
    now = timezone.now()
    out = []
    for name, info in sorted(labels.items()):
        rater = imported_rater(name)
        Membership.objects.get_or_create(user=rater, project=case.project, defaults={"role": Role.ANNOTATOR})
        Assignment.objects.update_or_create(
            case=case, rater=rater, defaults={"status": AssignmentStatus.SUBMITTED, "submitted_at": now}
        )
        out.append(LabelVersion.objects.create(
            case=case, rater=rater, kind=LabelKind.RATER, number=1, store_label=info["store_label"],
            checksum=info["checksum"], source="import",
        ))
    return out
