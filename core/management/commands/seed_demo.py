"""python manage.py seed_demo: the demo project with phantom cases and demo users."""

from django.core.management.base import BaseCommand

from core.services.demo import seed_demo


class Command(BaseCommand):
    help = "Create the demo project (phantom volumes, users admin/manager/annotator1/annotator2)."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--cases", type=int, default=6)
        parser.add_argument("--password", default="concord-demo")

    def handle(self, *args, cases: int, password: str, **opts) -> None:
        project = seed_demo(n_cases=cases, password=password)
        self.stdout.write(f"demo project {project.slug}: {project.cases.count()} cases")
