"""Plain Django views: the web app's entry page and a health check."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


def index(request: HttpRequest) -> HttpResponse:
    """The built web app when present (frontend/dist), else a page linking the API and its docs."""
    if (settings.BASE_DIR / "frontend" / "dist" / "index.html").exists():
        return render(request, "index.html")
    return render(request, "core/home.html")


def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
