from django.urls import include, path
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

from core.api import views

class _Router(DefaultRouter):
    include_format_suffixes = False  # "zarr.json" is a Zarr key, not a format suffix


router = _Router()
router.trailing_slash = "/?"  # both /api/cases/1/ and /api/cases/1 resolve
router.register("projects", views.ProjectViewSet, basename="project")
router.register("cases", views.CaseViewSet, basename="case")
router.register("jobs", views.JobViewSet, basename="job")
router.register("me", views.MeViewSet, basename="me")

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("", include(router.urls)),
]
