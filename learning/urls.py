"""Learning API (model registry, learning curves, audits) — filled by the learning issues."""

urlpatterns: list = []
