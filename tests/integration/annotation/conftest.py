from __future__ import annotations

import pytest
from core.models import Case, Role
from core.services.ingest import ingest
from core.services.projects import create_project, set_member
from tests.conftest import make_case_folder
from tests.integration.conftest import make_user


def make_labelled_project(tmp_path, *, slug="ann", n_cases=3, raters_per_case=2, shape=(8, 32, 32), blinded=True):
    """A project with phantom cases (no imported labels), a manager and three annotators."""
    manager = make_user(f"{slug}-manager")
    project = create_project(slug=slug, owner=manager, raters_per_case=raters_per_case, blinded=blinded)
    raters = [make_user(f"{slug}-r{i}") for i in range(1, 4)]
    for r in raters:
        set_member(project=project, user=r, role=Role.ANNOTATOR)
    for i in range(n_cases):
        make_case_folder(tmp_path / "in", f"c{i}", shape=shape, raters=0, seed=i)
    cases = ingest(path=tmp_path / "in", project=project)
    return project, manager, raters, [Case.objects.select_related("volume").get(pk=c.case_id) for c in cases]


@pytest.fixture
def labelled(tmp_path):
    return make_labelled_project(tmp_path)
