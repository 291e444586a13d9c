"""Platform tables: projects, members and roles, cases, volumes, jobs.

Models guard only their own row's invariants; the work is in ``core/services``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.geometry import Geometry


class Role(models.TextChoices):
    ANNOTATOR = "annotator", "Annotator"
    MANAGER = "manager", "Manager"
    ADMIN = "admin", "Admin"


class Project(models.Model):
    """A labelling project: its structures, how many raters see each case, and blinding."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # [{"value": 1, "name": "nodule", "color": "#ff0000"}, ...]; value 0 is background.
    label_schema = models.JSONField(default=list, blank=True)
    raters_per_case = models.PositiveSmallIntegerField(default=1)
    blinded = models.BooleanField(default=True)
    # mean pairwise Dice under which a case goes to adjudication instead of automatic consensus
    agreement_threshold = models.FloatField(default=0.7)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "project"], name="one_membership_per_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} as {self.role}"


class CaseStatus(models.TextChoices):
    NEW = "new", "New"
    IN_PROGRESS = "in_progress", "In progress"
    CLOSED = "closed", "Closed"


class Case(models.Model):
    """One image to label. Identified by pseudonyms only: no PHI ever reaches this table."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="cases")
    uid = models.CharField(max_length=64, help_text="pseudonymous case id, unique in the project")
    name = models.CharField(max_length=200, blank=True, help_text="source name without PHI (folder or series)")
    patient_pseudonym = models.CharField(max_length=64, blank=True, db_index=True)
    # de-identified attributes kept for bias audits: sex, age, site, manufacturer, contrast, ...
    attributes = models.JSONField(default=dict, blank=True)
    priority = models.FloatField(default=0.0, help_text="acquisition score; higher is labelled first")
    status = models.CharField(max_length=16, choices=CaseStatus.choices, default=CaseStatus.NEW)
    # store label holding the current pre-segmentation (published by learning, read by drafts)
    presegmentation_label = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-priority", "created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["project", "uid"], name="unique_case_uid")]
        indexes = [models.Index(fields=["project", "status", "-priority", "created_at"], name="case_queue")]

    def __str__(self) -> str:
        return self.uid


class Volume(models.Model):
    """An image pyramid in the store, published once completely written (its URL is the commit)."""

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="volume")
    store_url = models.CharField(max_length=1024, unique=True)
    shape = models.JSONField(help_text="(Z, Y, X) voxels")
    spacing = models.JSONField(help_text="(x, y, z) mm")
    origin = models.JSONField(help_text="(x, y, z) mm, LPS")
    direction = models.JSONField(help_text="9 direction cosines, row-major, columns = index axes in LPS")
    dtype = models.CharField(max_length=16)
    checksum = models.CharField(max_length=80, help_text="sha256 of level-0 voxels")
    levels = models.PositiveSmallIntegerField(default=1)
    source_format = models.CharField(max_length=16)
    modality = models.CharField(max_length=16, blank=True)
    has_dicom_headers = models.BooleanField(default=False, help_text="de-identified headers kept for DICOM-SEG")
    created_at = models.DateTimeField(auto_now_add=True)

    @property
    def geometry(self) -> Geometry:
        return Geometry.from_dict({"spacing": self.spacing, "origin": self.origin, "direction": self.direction})


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Job(models.Model):
    """Every background job: what was asked, how far it got, what came out or why it failed."""

    kind = models.CharField(max_length=64, db_index=True)
    arguments = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.FloatField(default=0.0, help_text="0..1")
    message = models.CharField(max_length=500, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind}#{self.pk} {self.status}"


class IngestJobManager(models.Manager):
    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(kind="concord.ingest")


class IngestJob(Job):
    """Ingest jobs: the same Job rows, seen through their kind (status, progress, errors)."""

    objects = IngestJobManager()

    class Meta:
        proxy = True
