from django.urls import include, path
from rest_framework.authtoken.views import obtain_auth_token

from core.api import views
from core.api.routers import ApiRouter

router = ApiRouter(root_view=True)
router.register("projects", views.ProjectViewSet, basename="project")
router.register("cases", views.CaseViewSet, basename="case")
router.register("jobs", views.JobViewSet, basename="job")
router.register("me", views.MeViewSet, basename="me")

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("", include(router.urls)),
]
