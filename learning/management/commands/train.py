"""python manage.py train PROJECT_SLUG [--kind segmenter|pulaski]: the training task's code, in the foreground."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core.errors import ConcordError
from core.models import Project
from learning.device import pick_device
from learning.services import trainers


class Command(BaseCommand):
    help = "Train a model of a project now (same code as the train task), then evaluate and maybe promote it."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("project")
        parser.add_argument("--kind", default="segmenter", help="segmenter or pulaski")
        parser.add_argument("--device", default=None, help="cpu or cuda (default: auto)")

    def handle(self, *args, project: str, kind: str, device: str | None, **opts) -> None:
        proj = Project.objects.filter(slug=project).first()
        if proj is None:
            raise CommandError(f"project {project!r} does not exist")
        dev = pick_device(device)
        bar = tqdm(total=100, desc=f"train {kind}", unit="%", file=self.stderr, disable=None)

        def progress(fraction: float, message: str) -> None:
            bar.n = round(100 * fraction)
            bar.set_postfix_str(message, refresh=True)

        try:
            version = trainers.train(project=proj, kind=kind, device=dev, progress=progress)
            bar.close()
            outcome = trainers.evaluate(version=version, device=dev)
        except ConcordError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps({"model_version": version.pk, "number": version.number, **outcome}))
