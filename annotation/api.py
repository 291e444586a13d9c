"""Annotation API: next case, drafts (partial writes), submission, label versions, agreement,
adjudication and the manager's numbers. Views parse, call one service, shape the answer."""

from __future__ import annotations

import numpy as np
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound as DRFNotFound
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import BaseParser
from rest_framework.response import Response

from annotation import permissions as perms
from annotation import serializers as s
from annotation.models import CaseAgreement, Draft, LabelVersion
from annotation.services import assignment, consensus, drafts, stats
from core.api.responses import raw_array_response
from core.errors import InvalidInput
from core.queries import MANAGING_ROLES, cases_for, projects_for, role_in

_REGION = [OpenApiParameter(n, int, required=False) for n in ("z0", "z1", "y0", "y1", "x0", "x1")]


class RawParser(BaseParser):
    """Raw uint8 voxels (C order) of a region, as sent by the viewer's autosave."""

    media_type = "application/octet-stream"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:  # noqa: ANN001
        return stream.read()


class ProjectQueueViewSet(viewsets.GenericViewSet):
    lookup_field = "slug"

    def get_queryset(self):
        return projects_for(self.request.user)

    @extend_schema(request=None, responses={200: s.NextCaseSerializer, 204: None})
    @action(detail=True, methods=["post"])
    def next(self, request, slug=None):  # noqa: ANN001
        """The caller's open assignment, else the next queued case assigned to him; 204 when none."""
        project = self.get_object()
        a = assignment.next_assignment(project=project, rater=request.user)
        if a is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        # The draft's array is created on first use (GET draft), keeping this call a few queries.
        draft = Draft.objects.filter(case=a.case, rater=request.user).first()
        data = s.NextCaseSerializer({"case": a.case, "assignment": a}).data
        data["draft"] = s.DraftSerializer(draft).data if draft else {"id": None, "revision": 0, "label": None}
        return Response(data)

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get"])
    def stats(self, request, slug=None):  # noqa: ANN001
        project = self.get_object()
        if role_in(request.user, project) not in MANAGING_ROLES:
            raise PermissionDenied("project statistics are for managers")
        return Response(stats.project_stats(project))


class CaseLabelViewSet(viewsets.GenericViewSet):
    """Label actions on a case the caller may see (annotators: only cases assigned to them)."""

    def get_queryset(self):
        return cases_for(self.request.user)

    def _draft(self, request, case) -> Draft:  # noqa: ANN001
        draft = Draft.objects.select_related("case__volume", "case__project").filter(case=case, rater=request.user).first()
        if draft is None:
            if not case.assignments.filter(rater=request.user).exists():
                raise DRFNotFound("this case is not assigned to you")
            draft = drafts.get_or_create_draft(case=case, rater=request.user)
        return draft

    @extend_schema(responses=s.DraftSerializer)
    @action(detail=True, methods=["get"])
    def draft(self, request, pk=None):  # noqa: ANN001
        return Response(s.DraftSerializer(self._draft(request, self.get_object())).data)

    @extend_schema(parameters=_REGION + [OpenApiParameter("revision", int, required=False)],
                   request={"application/octet-stream": OpenApiTypes.BINARY},
                   responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get", "put"], url_path="draft/data", parser_classes=[RawParser])
    def draft_data(self, request, pk=None):  # noqa: ANN001
        """GET: raw uint8 voxels of a region of the draft. PUT: overwrite that region (partial
        write) if ``revision`` is current; 409 with the current revision otherwise."""
        case = self.get_object()
        draft = self._draft(request, case)
        region = drafts.parse_region(request.query_params, tuple(case.volume.shape))
        if request.method == "GET":
            resp = raw_array_response(drafts.read_draft(draft, region), request)
            resp["X-Revision"] = str(draft.revision)
            return resp
        try:
            revision = int(request.query_params["revision"])
        except (KeyError, ValueError) as exc:
            raise InvalidInput("revision (the draft revision this write edits) is required") from exc
        body = request.data if isinstance(request.data, bytes) else b""
        shape = tuple(sl.stop - sl.start for sl in region)
        if len(body) != int(np.prod(shape)):
            raise InvalidInput(f"body has {len(body)} bytes; region {shape} needs {int(np.prod(shape))} uint8 voxels")
        data = np.frombuffer(body, dtype=np.uint8).reshape(shape)
        new = drafts.write_draft(draft_id=draft.pk, rater=request.user, region=region, data=data, revision=revision)
        return Response({"revision": new})

    @extend_schema(request=s.SubmitSerializer, responses={201: s.LabelVersionSerializer})
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):  # noqa: ANN001
        case = self.get_object()
        ser = s.SubmitSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        version = drafts.submit(case=case, rater=request.user, revision=ser.validated_data["revision"])
        return Response({"version": s.LabelVersionSerializer(version).data}, status=status.HTTP_201_CREATED)

    @extend_schema(responses=s.LabelVersionSerializer(many=True))
    @action(detail=True, methods=["get"])
    def labels(self, request, pk=None):  # noqa: ANN001
        """Full label history the caller may see: own versions while blinded, all once closed."""
        case = self.get_object()
        return Response(s.LabelVersionSerializer(perms.visible_versions(request.user, case), many=True).data)

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get"])
    def agreement(self, request, pk=None):  # noqa: ANN001
        case = self.get_object()
        if not perms.may_see_agreement(request.user, case):
            raise DRFNotFound("no agreement visible for this case")
        row = CaseAgreement.objects.filter(case=case).first() or consensus.compute_agreement(case)
        return Response({**row.report, "mean_dice": row.mean_dice, "flagged": row.flagged,
                         "versions": row.versions, "computed_at": row.computed_at})

    @extend_schema(request=s.AdjudicateSerializer, responses={201: s.LabelVersionSerializer})
    @action(detail=True, methods=["post"])
    def adjudicate(self, request, pk=None):  # noqa: ANN001
        """Publish the consensus of a case (managers/adjudicators) and close it."""
        case = self.get_object()
        if not perms.is_manager(request.user, case):
            raise PermissionDenied("adjudication is for managers")
        ser = s.AdjudicateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        version = consensus.publish_consensus(case=case, method=ser.validated_data["method"],
                                              version_id=ser.validated_data.get("version_id"), by=request.user)
        return Response(s.LabelVersionSerializer(version).data, status=status.HTTP_201_CREATED)


class LabelVersionViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Immutable label versions: metadata and voxels, with blinding checked per version (404)."""

    serializer_class = s.LabelVersionSerializer

    def get_queryset(self):
        return LabelVersion.objects.filter(case__in=cases_for(self.request.user)).select_related(
            "case__project", "case__volume", "rater")

    def get_object(self) -> LabelVersion:
        version = get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])
        if not perms.may_see_version(self.request.user, version):
            raise DRFNotFound("no such label version")
        return version

    @extend_schema(parameters=_REGION, responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def data(self, request, pk=None):  # noqa: ANN001
        version = self.get_object()
        region = drafts.parse_region(request.query_params, tuple(version.case.volume.shape))
        label = drafts.open_store(version.case).open_label(version.store_label)
        resp = raw_array_response(label.read(region), request)
        resp["X-Checksum"] = version.checksum
        return resp
