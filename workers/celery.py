"""The Celery app of the workers: configured from Django settings, tasks in ``workers.tasks``.

Start one: ``celery -A workers worker -Q cpu,gpu`` (embedded mode starts one beside the web server).
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")

app = Celery("concord")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers"], related_name="tasks")
