"""Labels and raters: assignments, drafts and immutable label versions.

A label version's voxels live in the case's OME-Zarr group under ``labels/<store_label>``; the row
is what publishes them. Versions are never updated after creation; drafts are the only mutable
arrays, guarded by a revision number (optimistic concurrency).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.models import Case


class AssignmentStatus(models.TextChoices):
    ASSIGNED = "assigned", "Assigned"
    SUBMITTED = "submitted", "Submitted"


class Assignment(models.Model):
    """A case given to one rater; with k raters per case a case has k assignments."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="assignments")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    status = models.CharField(max_length=16, choices=AssignmentStatus.choices, default=AssignmentStatus.ASSIGNED)
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "rater"], name="one_assignment_per_rater")]
        indexes = [models.Index(fields=["rater", "status"], name="assignment_rater_status")]


class LabelKind(models.TextChoices):
    RATER = "rater", "Rater"
    CONSENSUS = "consensus", "Consensus"
    ADJUDICATED = "adjudicated", "Adjudicated"


class LabelVersion(models.Model):
    """An immutable, checksummed label of a case by one rater (or a consensus of several)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="label_versions")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="label_versions")
    kind = models.CharField(max_length=16, choices=LabelKind.choices, default=LabelKind.RATER)
    number = models.PositiveIntegerField(help_text="1, 2, ... per case and rater (or kind)")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    store_label = models.CharField(max_length=128, help_text="name under the case group's labels/")
    checksum = models.CharField(max_length=80)
    source = models.CharField(max_length=32, default="web", help_text="web, import, staple, majority, ...")
    meta = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["case", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "rater", "kind", "number"], name="unique_label_number"),
            models.UniqueConstraint(fields=["case", "store_label"], name="unique_store_label"),
        ]

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValueError("label versions are immutable; create a new version instead")
        super().save(*args, **kwargs)


class Draft(models.Model):
    """A rater's mutable working label for a case, autosaved by partial writes."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="drafts")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="drafts")
    store_label = models.CharField(max_length=128)
    base_version = models.ForeignKey(LabelVersion, null=True, blank=True, on_delete=models.SET_NULL)
    revision = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "rater"], name="one_draft_per_rater")]


class CaseAgreement(models.Model):
    """The latest agreement report of a case's submitted raters (see annotation.metrics.report)."""

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="agreement")
    report = models.JSONField()
    mean_dice = models.FloatField(null=True, blank=True)
    versions = models.JSONField(default=list, help_text="label version ids the report was computed on")
    flagged = models.BooleanField(default=False, help_text="agreement under the threshold: needs adjudication")
    computed_at = models.DateTimeField(auto_now=True)
