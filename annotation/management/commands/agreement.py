"""python manage.py agreement PROJECT_SLUG [--json]: per case pairwise Dice, HD95, Fleiss' kappa and
each rater's STAPLE sensitivity/specificity; per rater the totals."""

from __future__ import annotations

import json as _json

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotation.services.agreement_summary import project_agreement
from core.models import Project


class Command(BaseCommand):
    help = "Inter-rater agreement of every case of a project with at least two submitted raters."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("project")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, project: str, json: bool, **opts) -> None:
        proj = Project.objects.filter(slug=project).first()
        if proj is None:
            raise CommandError(f"project {project!r} does not exist")
        bar = tqdm(desc="agreement", unit="case", disable=None, file=self.stderr)
        summary = project_agreement(proj, progress=lambda n, total: (setattr(bar, "total", total), bar.update(1)))
        bar.close()
        if json:
            self.stdout.write(_json.dumps(summary, indent=2, default=float))
            return
        for c in summary["cases"]:
            self.stdout.write(f"case {c['case_id']} {c['name']}: mean Dice {c['mean_dice']:.3f} "
                              f"kappa {c['fleiss_kappa']:.3f}")
        for name, r in summary["raters"].items():
            self.stdout.write(f"{name}: {r['cases']} cases, mean Dice {r['mean_dice']:.3f}, "
                              f"sensitivity {r['sensitivity']:.3f}, specificity {r['specificity']:.3f}")
        if not summary["cases"]:
            self.stdout.write("no case has two submitted raters yet")
