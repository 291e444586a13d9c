"""python manage.py export CASE_ID --out PATH [--label consensus|RATER|VERSION] [--format nifti|dicom-seg]

Without --label, the stored image; with it, a label version. Both in the original scanner geometry.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.services.exports import export_label
from core.errors import ConcordError
from core.models import Case
from core.services.exports import export_image_nifti


class Command(BaseCommand):
    help = "Export a case's image or one of its label versions (NIfTI or DICOM-SEG) in scanner geometry."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("case_id", type=int)
        parser.add_argument("--out", type=Path, required=True)
        parser.add_argument("--label", help="consensus, a rater's username, or a label version id")
        parser.add_argument("--format", choices=["nifti", "dicom-seg"], default="nifti")

    def handle(self, *args, case_id: int, out: Path, label: str | None, format: str, **opts) -> None:  # noqa: A002
        case = Case.objects.filter(pk=case_id).select_related("volume", "project").first()
        if case is None:
            raise CommandError(f"case {case_id} does not exist")
        try:
            if label is None:
                if format != "nifti":
                    raise CommandError("the image exports as NIfTI; DICOM-SEG is for labels (--label)")
                path = export_image_nifti(case, out)
            else:
                path = export_label(case=case, spec=label, fmt=format, out=out)
        except ConcordError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(str(path))
