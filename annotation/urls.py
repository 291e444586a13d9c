"""Annotation API routes (under /api/, after core's)."""

from rest_framework.routers import SimpleRouter

from annotation import api


class _Router(SimpleRouter):
    include_format_suffixes = False


router = _Router()
router.trailing_slash = "/?"
router.register("projects", api.ProjectQueueViewSet, basename="project-queue")
router.register("cases", api.CaseLabelViewSet, basename="case-labels")
router.register("labels", api.LabelVersionViewSet, basename="label")

urlpatterns = router.urls
