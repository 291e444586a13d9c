"""Learning API routes (under /api/)."""

from core.api.routers import ApiRouter
from learning import api

router = ApiRouter()
router.register("projects", api.ProjectLearningViewSet, basename="project-learning")
router.register("cases", api.CasePredictionViewSet, basename="case-prediction")

urlpatterns = router.urls
