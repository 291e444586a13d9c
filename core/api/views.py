"""Viewsets for projects, members, cases (with volume, slices and Zarr chunks) and jobs.

Each view scopes its queryset to what the user may see (404 otherwise) and hands the work to
``core.services``.
"""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.db.models import Count, Q
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound as DRFNotFound
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from core.api import serializers as s
from core.api.responses import raw_array_response
from core.api.permissions import IsProjectManager, IsProjectManagerOrReadOnly
from core.errors import InvalidInput
from core.models import Case, Job, Membership
from core.queries import cases_for, projects_for
from core.services import projects as project_services
from core.services import volumes as volume_services


class ProjectViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                     mixins.UpdateModelMixin, viewsets.GenericViewSet):
    serializer_class = s.ProjectSerializer
    permission_classes = [IsAuthenticated, IsProjectManagerOrReadOnly]
    lookup_field = "slug"

    def get_queryset(self):
        return projects_for(self.request.user).annotate(case_count=Count("cases"))

    def perform_create(self, serializer) -> None:  # noqa: ANN001
        data = dict(serializer.validated_data)
        serializer.instance = project_services.create_project(owner=self.request.user, **data)

    @extend_schema(request=s.MembershipSerializer, responses=s.MembershipSerializer(many=True))
    @action(detail=True, methods=["get", "post"], serializer_class=s.MembershipSerializer)
    def members(self, request, slug=None):  # noqa: ANN001
        project = self.get_object()
        if request.method == "POST":
            self.check_object_permissions(request, project)
            ser = s.MembershipSerializer(data=request.data)
            ser.is_valid(raise_exception=True)
            m = project_services.set_member(project=project, user=ser.validated_data["user"],
                                            role=ser.validated_data["role"])
            return Response(s.MembershipSerializer(m).data, status=status.HTTP_201_CREATED)
        members = Membership.objects.filter(project=project).select_related("user").order_by("user__username")
        return Response(s.MembershipSerializer(members, many=True).data)

    @extend_schema(request={"multipart/form-data": s.IngestUploadSerializer}, responses={202: s.JobSerializer})
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser],
            permission_classes=[IsAuthenticated, IsProjectManager], serializer_class=s.IngestUploadSerializer)
    def ingest(self, request, slug=None):  # noqa: ANN001
        project = self.get_object()
        ser = s.IngestUploadSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        job = project_services.start_upload_ingest(project=project, upload=ser.validated_data["file"],
                                                   user=request.user)
        return Response(s.JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


_ORDERINGS = {"priority": ("-priority", "created_at", "id"), "-priority": ("-priority", "created_at", "id"),
              "created_at": ("created_at", "id"), "-created_at": ("-created_at", "-id"), "uid": ("uid",)}


class CaseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin,
                  viewsets.GenericViewSet):
    """Cases of the user's projects; annotators see only the cases assigned to them."""

    serializer_class = s.CaseSerializer
    permission_classes = [IsAuthenticated, IsProjectManagerOrReadOnly]

    @extend_schema(parameters=[
        OpenApiParameter("project", str, description="project slug"),
        OpenApiParameter("status", str),
        OpenApiParameter("ordering", str, enum=list(_ORDERINGS)),
        OpenApiParameter("attr", str, description="attribute filter name:value, repeatable (e.g. sex:F)"),
    ])
    def list(self, request, *args, **kwargs):  # noqa: ANN001
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        qs = cases_for(self.request.user)
        p = self.request.query_params
        if p.get("project"):
            qs = qs.filter(project__slug=p["project"])
        if p.get("status"):
            qs = qs.filter(status=p["status"])
        for spec in p.getlist("attr"):
            name, sep, value = spec.partition(":")
            if not sep or not name.isidentifier():
                raise InvalidInput(f"attr filter {spec!r}: expected name:value")
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = value
            qs = qs.filter(Q(**{f"attributes__{name}": parsed}) | Q(**{f"attributes__{name}": value}))
        ordering = p.get("ordering", "priority")
        if ordering not in _ORDERINGS:
            raise InvalidInput(f"ordering {ordering!r}: expected one of {', '.join(_ORDERINGS)}")
        return qs.order_by(*_ORDERINGS[ordering])

    def _volume(self, case: Case):
        if not hasattr(case, "volume"):
            raise DRFNotFound("this case has no volume yet")
        return case.volume

    @extend_schema(responses=s.VolumeSerializer)
    @action(detail=True, methods=["get"])
    def volume(self, request, pk=None):  # noqa: ANN001
        return Response(s.VolumeSerializer(self._volume(self.get_object())).data)

    @extend_schema(parameters=[s.SliceQuerySerializer], responses={(200, "image/png"): OpenApiTypes.BINARY,
                                                                   (200, "application/octet-stream"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"], url_path="slice")
    def slice(self, request, pk=None):  # noqa: ANN001
        """One slice: PNG under a window, or raw little-endian voxels with shape/dtype headers."""
        volume = self._volume(self.get_object())
        q = s.SliceQuerySerializer(data=request.query_params)
        q.is_valid(raise_exception=True)
        a = q.validated_data
        plane = volume_services.read_slice(volume, axis=a["axis"], index=a.get("index"), level=a["level"])
        if a["format"] == "raw":
            return raw_array_response(plane)
        width, center = volume_services.window_for(plane, preset=a.get("preset"), width=a.get("window"),
                                                   center=a.get("center"), modality=volume.modality)
        png = volume_services.render_png(plane, width=width, center=center, flip_vertical=a["axis"] != "axial")
        resp = HttpResponse(png, content_type="image/png")
        resp["Cache-Control"] = "private, max-age=3600"
        return resp

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"], url_path=r"zarr/(?P<key>.*)")
    def zarr(self, request, pk=None, key: str = ""):  # noqa: ANN001
        """Raw keys of the case's OME-Zarr group (metadata and encoded chunks) for browser clients."""
        volume = self._volume(self.get_object())
        data = volume_services.open_published(volume).get_key(key or "zarr.json")
        if data is None:
            raise DRFNotFound(f"no zarr key {key!r}")
        ctype = "application/json" if key.endswith(".json") or not key else "application/octet-stream"
        resp = HttpResponse(data, content_type=ctype)
        resp["Cache-Control"] = "private, max-age=3600"
        return resp


class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Status and progress of every kind of background job."""

    serializer_class = s.JobSerializer

    def get_queryset(self):
        user = self.request.user
        qs = Job.objects.select_related("project")
        if not user.is_staff:
            qs = qs.filter(Q(project__in=projects_for(user)) | Q(created_by=user))
        kind = self.request.query_params.get("kind")
        return qs.filter(kind=kind) if kind else qs


class MeViewSet(viewsets.ViewSet):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def list(self, request):  # noqa: ANN001
        u = request.user
        roles = dict(Membership.objects.filter(user=u).values_list("project__slug", "role"))
        return Response({"username": u.username, "is_staff": u.is_staff, "roles": roles})


User = get_user_model()
