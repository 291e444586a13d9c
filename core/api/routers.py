"""The one router class of the API apps (core, annotation, learning)."""

from __future__ import annotations

from rest_framework.routers import DefaultRouter

__all__ = ["ApiRouter"]


class ApiRouter(DefaultRouter):
    """The router of every API app: optional trailing slash, no format suffixes ("zarr.json" is a
    Zarr key, not a format), and an API root view only where asked (core's)."""

    include_format_suffixes = False

    def __init__(self, *, root_view: bool = False) -> None:
        super().__init__()
        self.include_root_view = root_view
        self.trailing_slash = "/?"  # both /api/cases/1/ and /api/cases/1 resolve
