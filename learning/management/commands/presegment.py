"""python manage.py presegment PROJECT_SLUG [--case ID ...]: the pre-segmentation task's code."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core.errors import ConcordError
from core.models import Project
from learning.device import pick_device
from learning.services.presegment import presegment_project


class Command(BaseCommand):
    help = "Pre-segment a project's unlabelled cases (or the given ones) with its promoted segmenter."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("project")
        parser.add_argument("--case", type=int, action="append", dest="cases")
        parser.add_argument("--device", default=None)

    def handle(self, *args, project: str, cases: list[int] | None, device: str | None, **opts) -> None:
        proj = Project.objects.filter(slug=project).first()
        if proj is None:
            raise CommandError(f"project {project!r} does not exist")
        bar = tqdm(total=100, desc="presegment", unit="%", file=self.stderr, disable=None)
        try:
            result = presegment_project(project=proj, device=pick_device(device), case_ids=cases,
                                        progress=lambda f, m: (setattr(bar, "n", round(100 * f)), bar.refresh()))
        except ConcordError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        self.stdout.write(json.dumps(result))
