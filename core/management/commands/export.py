"""python manage.py export CASE_ID --out FILE.nii.gz: the stored image in scanner geometry."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.errors import ConcordError
from core.models import Case
from core.services.exports import export_image_nifti


class Command(BaseCommand):
    help = "Export a case's image as NIfTI in its original scanner geometry."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("case_id", type=int)
        parser.add_argument("--out", type=Path, required=True)

    def handle(self, *args, case_id: int, out: Path, **opts) -> None:
        case = Case.objects.filter(pk=case_id).select_related("volume").first()
        if case is None:
            raise CommandError(f"case {case_id} does not exist")
        try:
            path = export_image_nifti(case, out)
        except ConcordError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(str(path))
