"""Reactions to core's signals: imported label files become submitted versions of named raters."""

from __future__ import annotations

from django.dispatch import receiver

from core.models import Case
from core.signals import case_ingested


@receiver(case_ingested, sender=Case)
def import_rater_labels(sender, *, case: Case, labels: dict, **kwargs) -> None:  # noqa: ANN001
    from annotation.services.imports import record_imported_labels

    if labels:
        record_imported_labels(case=case, labels=labels)
