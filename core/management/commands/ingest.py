"""python manage.py ingest PATH --project SLUG [--json]: the same code the ingest task runs."""

from __future__ import annotations

import json as _json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core.errors import ConcordError
from core.services.ingest import ingest
from core.services.projects import get_or_create_project


class Command(BaseCommand):
    help = "Ingest DICOM series, NIfTI or NRRD files (a folder, a file or a .zip) into a project."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("path", type=Path)
        parser.add_argument("--project", required=True, help="project slug (created when missing)")
        parser.add_argument("--json", action="store_true", help="print the cases as JSON on stdout")

    def handle(self, *args, path: Path, project: str, json: bool, **opts) -> None:  # noqa: A002
        proj, created = get_or_create_project(project)
        if created:
            self.stderr.write(f"created project {proj.slug}")
        bar = tqdm(total=100, desc="ingest", unit="%", disable=None, file=self.stderr)

        def progress(fraction: float, message: str) -> None:
            bar.n = round(fraction * 100)
            bar.set_postfix_str(message, refresh=True)

        try:
            cases = ingest(path=path, project=proj, progress=progress)
        except ConcordError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        new = [c for c in cases if c.created]
        if json:
            self.stdout.write(_json.dumps({"project": proj.slug, "cases": [c.to_dict() for c in cases]}, indent=2))
        else:
            for c in cases:
                mark = "+" if c.created else "="
                self.stdout.write(f"{mark} case {c.case_id} {c.uid} {c.name} shape={c.shape} spacing={c.spacing}"
                                  + (f" raters={','.join(c.raters)}" if c.raters else ""))
            self.stdout.write(f"{len(new)} new, {len(cases) - len(new)} already present in {proj.slug}")
