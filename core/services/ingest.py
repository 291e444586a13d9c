"""Ingest: files -> de-identified OME-Zarr volumes + Case/Volume rows, all or nothing.

Series are decoded and written to fresh store URLs in parallel (Dask); the rows that publish
them are then created in one transaction. If any series fails, every URL written is deleted and
no row is created, so nothing partial stays behind. Re-running the same ingest is idempotent:
cases whose pseudonymous uid already exists are reported, not duplicated.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import logging
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import fsspec
from django.conf import settings
from django.db import transaction

from core import compute
from core.errors import InvalidInput
from core.ingest import archive, discover, load_label, load_series
from core.ingest.types import SeriesSource
from core.models import Case, Project, Volume
from core.signals import case_ingested
from core.storage import create_volume, delete_volume, new_volume_url

__all__ = ["IngestedCase", "ingest", "case_uid"]

log = logging.getLogger(__name__)
Progress = Callable[[float, str], None]
_RATER_NAME = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class IngestedCase:
    case_id: int
    uid: str
    name: str
    shape: list[int]
    spacing: list[float]
    source_format: str
    raters: list[str] = field(default_factory=list)
    created: bool = True

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def case_uid(source: SeriesSource, *, key: bytes) -> str:
    """Keyed pseudonymous id of a source: stable for the same input, meaningless without the key."""
    ident = source.series_uid or source.case_key
    return "C-" + hmac.new(key, ident.encode(), hashlib.sha256).hexdigest()[:16]


def _write_one(job: tuple[SeriesSource, str, bytes]) -> dict:
    """Decode one series and write its volume (and imported labels) under ``url``. Runs in Dask."""
    source, url, key = job
    image = load_series(source, key=key)
    labels = {rater: load_label(path, like=image) for rater, path in sorted(source.label_files.items())}
    store = create_volume(url, image.array, image.geometry, extra_attrs={"modality": image.modality or ""})
    imported = {}
    for rater, array in labels.items():
        name = "import-" + _RATER_NAME.sub("-", rater)
        label = store.create_label(name, array, colors=None, source_version=None)
        imported[rater] = {"store_label": name, "checksum": label.checksum()}
    if image.dicom_headers:
        # De-identified headers (no pixels), kept for DICOM-SEG exports that reference the series.
        payload = json.dumps([ds.to_json_dict() for ds in image.dicom_headers]).encode()
        with fsspec.open(f"{url.rstrip('/')}/dicom-headers.json.gz", "wb") as fh:
            fh.write(gzip.compress(payload))
    attributes = {**image.attributes, **source.attributes}
    return {
        "url": url,
        "name": source.case_key,
        "shape": list(store.shape(0)),
        "geometry": image.geometry.to_dict(),
        "dtype": str(store.dtype),
        "checksum": store.checksum,
        "levels": store.levels,
        "source_format": image.source_format,
        "modality": image.modality or "",
        "patient_pseudonym": image.patient_pseudonym or "",
        "attributes": attributes,
        "labels": imported,
        "dicom": bool(image.dicom_headers),
    }


def ingest(
    *,
    path: Path,
    project: Project,
    key: bytes | None = None,
    store_root: str | None = None,
    progress: Progress | None = None,
) -> list[IngestedCase]:
    """Ingest every series under ``path`` (a folder, a file or a .zip) into ``project``.

    Raises:
        InvalidInput: naming each file and its problem; nothing is left in the store or database.
    """
    key = key or settings.PSEUDONYM_KEY
    store_root = store_root or settings.STORE_URL
    report = progress or (lambda f, m: None)
    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"{path}: no such file or folder")
    tmp = None
    try:
        root = path
        if path.is_file() and path.suffix.lower() == ".zip":
            tmp = Path(tempfile.mkdtemp(prefix="concord-unzip-"))
            root = archive.extract_zip(path, tmp)
        report(0.0, "discovering series")
        sources = discover(root)
        if not sources:
            raise InvalidInput(f"{path.name}: no image found")
        uids = [case_uid(s, key=key) for s in sources]
        existing = set(Case.objects.filter(project=project, uid__in=uids).values_list("uid", flat=True))
        todo = [(s, u) for s, u in zip(sources, uids) if u not in existing]
        jobs = [(s, new_volume_url(store_root), key) for s, _ in todo]
        results = compute.map_collect(
            _write_one, jobs, progress=lambda n, total: report(0.05 + 0.9 * n / total, f"{n}/{total} series")
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        try:
            if errors:
                raise errors[0] if len(errors) == 1 else InvalidInput("; ".join(str(e) for e in errors))
            created = _publish(project, [u for _, u in todo], results)
        except BaseException:
            for _, url, _ in jobs:
                delete_volume(url)
            raise
        report(1.0, f"{len(created)} new cases")
        skipped = [
            _as_ingested(c, created=False)
            for c in Case.objects.filter(project=project, uid__in=existing).select_related("volume")
        ]
        return created + skipped
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


@transaction.atomic
def _publish(project: Project, uids: list[str], results: list[dict]) -> list[IngestedCase]:
    """Create the rows that make the written volumes visible, in one transaction."""
    out = []
    for uid, r in zip(uids, results):
        case = Case.objects.create(
            project=project,
            uid=uid,
            name=r["name"],
            patient_pseudonym=r["patient_pseudonym"],
            attributes=r["attributes"],
        )
        g = r["geometry"]
        Volume.objects.create(
            case=case,
            store_url=r["url"],
            shape=r["shape"],
            spacing=g["spacing"],
            origin=g["origin"],
            direction=g["direction"],
            dtype=r["dtype"],
            checksum=r["checksum"],
            levels=r["levels"],
            source_format=r["source_format"],
            modality=r["modality"],
            has_dicom_headers=r["dicom"],
        )
        case_ingested.send(sender=Case, case=case, labels=r["labels"])
        out.append(_as_ingested(case, raters=sorted(r["labels"])))
    return out


def _as_ingested(case: Case, *, raters: list[str] | None = None, created: bool = True) -> IngestedCase:
    v = case.volume
    return IngestedCase(
        case_id=case.pk,
        uid=case.uid,
        name=case.name,
        shape=list(v.shape),
        spacing=list(v.spacing),
        source_format=v.source_format,
        raters=raters or [],
        created=created,
    )
