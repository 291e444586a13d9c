"""Drafts and submission: the label lifecycle draft -> immutable submitted version.

A draft is the only mutable label array. Each write names the draft revision it edits; the
draft row is locked, the revision compared, the region written (touching only its chunks) and
the revision bumped in one transaction, so a stale write gets a Conflict carrying the current
revision and no update is ever lost or silently overwritten. Submitting copies the draft's
chunks into a new immutable label (checksummed) published by a LabelVersion row.
"""

from __future__ import annotations

import uuid

import numpy as np
from django.db import transaction
from django.utils import timezone

from annotation.models import Assignment, AssignmentStatus, Draft, LabelKind, LabelVersion
from core import jobs
from core.errors import Conflict, InvalidInput, NotFound
from core.models import Case
from core.storage import LabelStore, VolumeStore, open_volume

__all__ = ["Region", "parse_region", "get_or_create_draft", "read_draft",
           "write_draft", "submit", "latest_versions", "open_store"]

Region = tuple[slice, slice, slice]


def open_store(case: Case, mode: str = "r") -> VolumeStore:
    if not hasattr(case, "volume"):
        raise NotFound(f"case {case.pk} has no volume")
    return open_volume(case.volume.store_url, mode=mode)


def parse_region(params: dict, shape: tuple[int, int, int]) -> Region:
    """Region from z0,z1,y0,y1,x0,x1 (half-open, voxels); missing bounds mean the whole axis."""
    out = []
    for axis, n in zip("zyx", shape):
        try:
            lo = int(params.get(f"{axis}0", 0))
            hi = int(params.get(f"{axis}1", n))
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"region bounds on {axis} must be integers") from exc
        if not 0 <= lo < hi <= n:
            raise InvalidInput(f"region {axis}0={lo}, {axis}1={hi} outside 0..{n} or empty")
        out.append(slice(lo, hi))
    return tuple(out)  # type: ignore[return-value]


def _initial_array(case: Case, rater, store: VolumeStore) -> tuple[np.ndarray | None, LabelVersion | None]:
    own = latest_versions(case, kinds=[LabelKind.RATER]).get(rater.pk)
    if own is not None:
        return store.open_label(own.store_label).read(), own
    if case.presegmentation_label:  # published by learning after a promoted model pre-segmented it
        return store.open_label(case.presegmentation_label).read(), None
    return None, None


def get_or_create_draft(*, case: Case, rater) -> Draft:
    """The rater's draft of the case, created from his last version, the pre-segmentation or zeros."""
    draft = Draft.objects.filter(case=case, rater=rater).first()
    if draft is not None:
        return draft
    store = open_store(case, "r+")
    array, base = _initial_array(case, rater, store)
    name = f"draft-{uuid.uuid4().hex[:12]}"
    store.create_label(name, array, colors=_colors(case), source_version=str(base.pk) if base else None)
    try:
        with transaction.atomic():
            return Draft.objects.create(case=case, rater=rater, store_label=name, base_version=base)
    except Exception:
        store.delete_label(name)
        existing = Draft.objects.filter(case=case, rater=rater).first()
        if existing is None:
            raise
        return existing  # a concurrent request created it first


def _colors(case: Case) -> dict[int, tuple[int, int, int]]:
    out = {}
    for s in case.project.label_schema:
        c = str(s.get("color", "#ff0000")).lstrip("#")
        out[int(s["value"])] = (int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16))
    return out


def read_draft(draft: Draft, region: Region | None = None) -> np.ndarray:
    return open_store(draft.case).open_label(draft.store_label).read(region)


def _check_values(case: Case, data: np.ndarray) -> None:
    allowed = {0} | {int(s["value"]) for s in case.project.label_schema}
    present = np.unique(data)
    bad = [int(v) for v in present if int(v) not in allowed]
    if bad:
        raise InvalidInput(f"label values {bad} are not structures of project {case.project.slug}")


def write_draft(*, draft_id: int, rater, region: Region, data: np.ndarray, revision: int) -> int:
    """Write ``data`` (uint8, the region's shape) into the draft if ``revision`` is current.

    Returns:
        The new revision.
    Raises:
        Conflict: ``revision`` is stale (``current`` carries the current revision).
        InvalidInput: shape or label values wrong.
    """
    want = tuple(s.stop - s.start for s in region)
    if data.shape != want:
        raise InvalidInput(f"data shape {data.shape} does not match the region {want}")
    with transaction.atomic():
        draft = (Draft.objects.select_for_update(of=("self",)).select_related("case__project", "case__volume")
                 .get(pk=draft_id))
        if draft.rater_id != rater.pk:
            raise NotFound("no such draft")
        if draft.revision != revision:
            raise Conflict(f"draft revision {revision} is stale; the current revision is {draft.revision}",
                           current={"revision": draft.revision})
        _check_values(draft.case, data)
        open_store(draft.case, "r+").open_label(draft.store_label).write_region(region, data)
        draft.revision += 1
        Draft.objects.filter(pk=draft.pk).update(revision=draft.revision, updated_at=timezone.now())
        return draft.revision


def latest_versions(case: Case, *, kinds: list[str]) -> dict[int | None, LabelVersion]:
    """The newest version per rater (key None for consensus kinds) among ``kinds``."""
    out: dict[int | None, LabelVersion] = {}
    for v in LabelVersion.objects.filter(case=case, kind__in=kinds).order_by("created_at", "id"):
        out[v.rater_id] = v
    return out


def submit(*, case: Case, rater, revision: int) -> LabelVersion:
    """Publish the rater's draft as a new immutable version; when the case has all its raters,
    enqueue its agreement and consensus job."""
    with transaction.atomic():
        draft = Draft.objects.select_for_update().filter(case=case, rater=rater).first()
        if draft is None:
            raise NotFound("no draft to submit for this case")
        if draft.revision != revision:
            raise Conflict(f"draft revision {revision} is stale; the current revision is {draft.revision}",
                           current={"revision": draft.revision})
        assignment = Assignment.objects.select_for_update().filter(case=case, rater=rater).first()
        if assignment is None:
            raise NotFound("this case is not assigned to you")
        store = open_store(case, "r+")
        name = f"v-{uuid.uuid4().hex[:12]}"
        label: LabelStore = store.open_label(draft.store_label).copy_to(name)
        try:
            parent = latest_versions(case, kinds=[LabelKind.RATER]).get(rater.pk)
            version = LabelVersion.objects.create(
                case=case, rater=rater, kind=LabelKind.RATER, number=(parent.number + 1) if parent else 1,
                parent=parent, store_label=name, checksum=label.checksum(), source="web",
                meta={"draft_revision": revision},
            )
            Draft.objects.filter(pk=draft.pk).update(base_version=version)
            Assignment.objects.filter(pk=assignment.pk).update(status=AssignmentStatus.SUBMITTED,
                                                               submitted_at=timezone.now())
            submitted = Assignment.objects.filter(case=case, status=AssignmentStatus.SUBMITTED).count()
            if submitted >= case.project.raters_per_case and submitted >= 2:
                jobs.enqueue(jobs.AGREEMENT, project=case.project, case_id=case.pk)
        except Exception:
            store.delete_label(name)
            raise
        return version
