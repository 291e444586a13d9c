"""Queue routing by task name: GPU work on ``gpu``, everything else on ``cpu``."""

from __future__ import annotations

GPU_TASKS = frozenset({"concord.presegment", "concord.train", "concord.score"})


def route_task(name: str, args, kwargs, options, task=None, **kw) -> dict[str, str]:
    """Celery router (settings.CELERY_TASK_ROUTES)."""
    return {"queue": "gpu" if name in GPU_TASKS else "cpu"}
