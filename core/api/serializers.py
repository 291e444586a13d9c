"""Shapes of the platform resources. Serializers check shape; services check meaning."""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from rest_framework import serializers

from core.models import Case, Job, Membership, Project, Role, Volume

_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


class ProjectSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()
    case_count = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = Project
        fields = ["id", "slug", "name", "description", "label_schema", "raters_per_case", "blinded",
                  "agreement_threshold", "created_at", "role", "case_count"]
        read_only_fields = ["id", "created_at"]

    def get_role(self, obj: Project) -> str | None:
        from core.queries import role_in

        request = self.context.get("request")
        return role_in(request.user, obj) if request else None

    def validate_label_schema(self, value: list) -> list:
        if not isinstance(value, list):
            raise serializers.ValidationError("label_schema must be a list of structures")
        seen: set[int] = set()
        for i, s in enumerate(value):
            if not isinstance(s, dict) or set(s) - {"value", "name", "color"} or not {"value", "name"} <= set(s):
                raise serializers.ValidationError(f"structure {i}: needs value and name (and optional color)")
            if not isinstance(s["value"], int) or not 1 <= s["value"] <= 255:
                raise serializers.ValidationError(f"structure {i}: value must be an integer 1..255")
            if s["value"] in seen:
                raise serializers.ValidationError(f"structure {i}: value {s['value']} used twice")
            seen.add(s["value"])
            if "color" in s and not _COLOR.match(str(s["color"])):
                raise serializers.ValidationError(f"structure {i}: color must look like #rrggbb")
        return value

    def validate_raters_per_case(self, value: int) -> int:
        if not 1 <= value <= 16:
            raise serializers.ValidationError("raters_per_case must be between 1 and 16")
        return value


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.SlugRelatedField(
        source="user", slug_field="username", queryset=get_user_model().objects.all()
    )
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["id", "username", "role", "created_at"]
        read_only_fields = ["id", "created_at"]


class VolumeSerializer(serializers.ModelSerializer):
    chunks = serializers.SerializerMethodField()

    class Meta:
        model = Volume
        fields = ["id", "shape", "spacing", "origin", "direction", "dtype", "checksum", "levels",
                  "source_format", "modality", "chunks"]

    def get_chunks(self, obj: Volume) -> str:
        """Base URL of the OME-Zarr group, readable by a browser Zarr client."""
        return f"/api/cases/{obj.case_id}/zarr/"


class CaseSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    volume = VolumeSerializer(read_only=True)

    class Meta:
        model = Case
        fields = ["id", "uid", "name", "project", "patient_pseudonym", "attributes", "priority", "status",
                  "presegmentation_label", "created_at", "volume"]
        read_only_fields = ["id", "uid", "name", "project", "patient_pseudonym", "presegmentation_label",
                            "created_at", "volume"]


class JobSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Job
        fields = ["id", "kind", "arguments", "status", "progress", "message", "result", "error", "project",
                  "created_at", "started_at", "finished_at"]
        read_only_fields = fields


class IngestUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="a .zip of DICOM/NIfTI/NRRD files, or one .nii/.nii.gz/.nrrd")

    def validate_file(self, f):  # noqa: ANN001
        name = f.name.lower()
        if not name.endswith((".zip", ".nii", ".nii.gz", ".nrrd", ".dcm")):
            raise serializers.ValidationError(f"{f.name}: expected .zip, .nii, .nii.gz, .nrrd or .dcm")
        return f


class SliceQuerySerializer(serializers.Serializer):
    axis = serializers.ChoiceField(choices=["axial", "coronal", "sagittal"], default="axial")
    index = serializers.IntegerField(min_value=0, required=False)
    level = serializers.IntegerField(min_value=0, default=0)
    format = serializers.ChoiceField(choices=["png", "raw"], default="png")
    window = serializers.FloatField(min_value=1e-6, required=False)
    center = serializers.FloatField(required=False)
    preset = serializers.ChoiceField(choices=["lung", "soft_tissue", "bone", "brain", "auto"], required=False)
