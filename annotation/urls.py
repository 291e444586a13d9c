"""Annotation API (assignments, drafts, label versions, agreement)."""

urlpatterns: list = []
