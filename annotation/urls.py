"""Annotation API routes (under /api/, after core's)."""

from annotation import api
from core.api.routers import ApiRouter

router = ApiRouter()
router.register("projects", api.ProjectQueueViewSet, basename="project-queue")
router.register("cases", api.CaseLabelViewSet, basename="case-labels")
router.register("labels", api.LabelVersionViewSet, basename="label")

urlpatterns = router.urls
