"""Pure ingest layer: find images in an upload, read them, de-identify them.

No Django, no database, no store writes: the Django ingest service calls these functions and
then writes to the store and the database.
"""

from __future__ import annotations

from core.ingest.archive import extract_zip
from core.ingest.deid import UidMap, deidentify, pseudonym
from core.ingest.discover import discover
from core.ingest.load import load_label, load_series
from core.ingest.types import ImageData, SeriesSource

__all__ = [
    "ImageData",
    "SeriesSource",
    "UidMap",
    "deidentify",
    "discover",
    "extract_zip",
    "load_label",
    "load_series",
    "pseudonym",
]
