"""Shapes of the annotation resources."""

from __future__ import annotations

from rest_framework import serializers

from annotation.models import Assignment, Draft, LabelVersion
from core.api.serializers import CaseSerializer


class LabelVersionSerializer(serializers.ModelSerializer):
    rater = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = LabelVersion
        fields = ["id", "case", "rater", "kind", "number", "parent", "checksum", "source", "meta", "created_at"]
        read_only_fields = fields


class DraftSerializer(serializers.ModelSerializer):
    label = serializers.SerializerMethodField()
    shape = serializers.SerializerMethodField()

    class Meta:
        model = Draft
        fields = ["id", "case", "revision", "base_version", "label", "shape", "updated_at"]
        read_only_fields = fields

    def get_label(self, obj: Draft) -> str:
        return f"labels/{obj.store_label}"

    def get_shape(self, obj: Draft) -> list[int]:
        return list(obj.case.volume.shape)


class AssignmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Assignment
        fields = ["id", "status", "created_at", "submitted_at"]
        read_only_fields = fields


class NextCaseSerializer(serializers.Serializer):
    case = CaseSerializer()
    assignment = AssignmentSerializer()
    draft = DraftSerializer(required=False)


class SubmitSerializer(serializers.Serializer):
    revision = serializers.IntegerField(min_value=0)


class AdjudicateSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=["staple", "majority", "version"])
    version_id = serializers.IntegerField(required=False)

    def validate(self, attrs: dict) -> dict:
        if attrs["method"] == "version" and "version_id" not in attrs:
            raise serializers.ValidationError({"version_id": "required when method is version"})
        return attrs
