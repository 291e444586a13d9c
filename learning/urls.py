"""Learning API routes (under /api/)."""

from rest_framework.routers import SimpleRouter

from learning import api


class _Router(SimpleRouter):
    include_format_suffixes = False


router = _Router()
router.trailing_slash = "/?"
router.register("projects", api.ProjectLearningViewSet, basename="project-learning")
router.register("cases", api.CasePredictionViewSet, basename="case-prediction")

urlpatterns = router.urls
