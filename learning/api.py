"""Learning API for managers: model versions and the learning curve, retraining policy, train,
pre-segment and roll back. Views call one service each; the work runs in jobs."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from core import jobs
from core.api.serializers import JobSerializer
from core.queries import MANAGING_ROLES, projects_for, role_in
from learning.acquisition import AcquisitionPolicy
from learning.models import BiasAudit, CaseScore, CurvePoint, ModelKind, ModelVersion
from learning.services import registry, schedule


class ModelVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = ["id", "kind", "number", "status", "config", "trained_on", "validation_cases",
                  "n_labelled_cases", "metrics", "parent", "created_at", "promoted_at"]
        read_only_fields = fields


class PolicySerializer(serializers.Serializer):
    retrain_cron = serializers.CharField(required=False, allow_blank=True)
    retrain_after_consensus = serializers.IntegerField(required=False, min_value=0)
    train_config = serializers.JSONField(required=False)
    acquisition = serializers.JSONField(required=False, help_text=(
        'e.g. {"strategy": "uncertainty_diversity", "method": "borda", "weights": {"mc_entropy": 1, '
        '"tta_variance": 1, "ood_mahalanobis": 0.5}, "batch": 10}'))


class KindSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ModelKind.choices, default=ModelKind.SEGMENTER)


class ProjectLearningViewSet(viewsets.GenericViewSet):
    lookup_field = "slug"

    def get_queryset(self):
        return projects_for(self.request.user)

    def _managed(self):  # noqa: ANN202
        project = self.get_object()
        if role_in(self.request.user, project) not in MANAGING_ROLES:
            raise PermissionDenied("model management is for managers")
        return project

    @extend_schema(request=PolicySerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get", "patch"])
    def learning(self, request, slug=None):  # noqa: ANN001
        """Model versions, the learning curve, the retraining policy and the running training."""
        project = self._managed()
        if request.method == "PATCH":
            ser = PolicySerializer(data=request.data)
            ser.is_valid(raise_exception=True)
            d = ser.validated_data
            schedule.set_policy(project=project, cron=d.get("retrain_cron"),
                                after_n=d.get("retrain_after_consensus"), train_config=d.get("train_config"),
                                acquisition=d.get("acquisition"))
        state = registry.learning_state(project)
        return Response({
            "policy": {"retrain_cron": state.retrain_cron, "retrain_after_consensus": state.retrain_after_consensus,
                       "train_config": state.train_config,
                       "train_config_problem": schedule.train_config_problem(project),
                       "validation_case_ids": state.validation_case_ids,
                       "acquisition": AcquisitionPolicy.from_dict(state.acquisition).to_dict()},
            "training_job": JobSerializer(state.training_job).data if state.training_job else None,
            "pending": state.pending_kinds,
            "models": ModelVersionSerializer(ModelVersion.objects.filter(project=project), many=True).data,
            "curve": [{"n_labelled": p.n_labelled, "model_version": p.model_version_id, **p.metrics,
                       "at": p.created_at} for p in CurvePoint.objects.filter(project=project)],
            "audits": [{"id": a.pk, "model_version": a.model_version_id, "created_at": a.created_at, **a.result,
                        "per_case": a.per_case} for a in BiasAudit.objects.filter(project=project)
                       .order_by("-created_at")[:5]],
            "scores": [{"case_id": c.case_id, "model_version": c.model_version_id, **c.scores}
                       for c in CaseScore.objects.filter(case__project=project).order_by("-computed_at")[:500]],
        })

    @extend_schema(request=None, responses={202: JobSerializer})
    @action(detail=True, methods=["post"])
    def score(self, request, slug=None):  # noqa: ANN001
        """Re-score the cases and refill the queue (cold start when no model is promoted)."""
        project = self._managed()
        job = jobs.enqueue(jobs.SCORE, project=project, user=request.user, project_id=project.pk)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=KindSerializer, responses={202: JobSerializer})
    @action(detail=True, methods=["post"])
    def train(self, request, slug=None):  # noqa: ANN001
        project = self._managed()
        ser = KindSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        job = registry.request_training(project=project, kind=ser.validated_data["kind"], user=request.user)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: JobSerializer})
    @action(detail=True, methods=["post"])
    def presegment(self, request, slug=None):  # noqa: ANN001
        project = self._managed()
        job = jobs.enqueue(jobs.PRESEGMENT, project=project, user=request.user, project_id=project.pk)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=KindSerializer, responses=ModelVersionSerializer)
    @action(detail=True, methods=["post"])
    def rollback(self, request, slug=None):  # noqa: ANN001
        project = self._managed()
        ser = KindSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        return Response(ModelVersionSerializer(registry.rollback(project=project, kind=ser.validated_data["kind"])).data)


class CasePredictionViewSet(viewsets.GenericViewSet):
    """The newest prediction of a case (for the viewer's pre-segmentation and uncertainty overlays)."""

    def get_queryset(self):
        from core.queries import cases_for

        return cases_for(self.request.user)

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get"])
    def prediction(self, request, pk=None):  # noqa: ANN001
        from rest_framework.exceptions import NotFound

        from learning.models import Prediction

        case = self.get_object()
        p = Prediction.objects.filter(case=case).select_related("model_version").order_by("-created_at").first()
        if p is None:
            raise NotFound("no prediction for this case yet")
        score = CaseScore.objects.filter(case=case, model_version=p.model_version).first()
        return Response({
            "model_version": p.model_version_id, "model_number": p.model_version.number,
            "probability_label": f"labels/{p.probability_label}", "probability_scale": 255,
            "segmentation_label": f"labels/{p.segmentation_label}", "scores": score.scores if score else {},
        })
