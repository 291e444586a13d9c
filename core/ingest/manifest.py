"""Per-case attributes from a ``manifest.csv`` beside the case folders.

Columns that would carry identities (patient id or name, birth date, MRN, accession) are not
copied into attributes: a patient id column becomes the case's pseudonym source instead.
"""

from __future__ import annotations

import csv
from pathlib import Path

from core.errors import InvalidInput

__all__ = ["read_manifest", "MANIFEST_NAME", "PATIENT_ID_COLUMNS", "PHI_COLUMNS"]

MANIFEST_NAME = "manifest.csv"
#: Columns whose value identifies the patient; used for the pseudonym, never stored.
PATIENT_ID_COLUMNS = ("patient_id", "patientid", "mrn")
#: Columns never copied into attributes.
PHI_COLUMNS = frozenset(
    PATIENT_ID_COLUMNS
    + ("patient_name", "name", "birth_date", "dob", "date_of_birth", "accession", "accession_number")
)


def _parse(value: str) -> int | float | str | None:
    v = value.strip()
    if v == "":
        return None
    try:
        return int(v)
    except ValueError:
        pass
    try:
        return float(v)
    except ValueError:
        return v


def read_manifest(path: Path) -> dict[str, dict]:
    """Read ``path`` into ``{case_id: {column: value}}``, numbers parsed, blanks as None.

    The patient id column, if any, is kept under the private key ``"_patient_id"`` so that
    loading can turn it into a pseudonym; other PHI columns are dropped.

    Raises:
        InvalidInput: unreadable file, no ``case_id`` column, or a case_id listed twice.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = [c.strip() for c in (reader.fieldnames or [])]
            if "case_id" not in columns:
                raise InvalidInput(f"{path.name}: manifest has no case_id column (columns: {columns})")
            rows: dict[str, dict] = {}
            for n, raw in enumerate(reader, start=2):
                row = {(k or "").strip(): (v or "") for k, v in raw.items()}
                case_id = row.pop("case_id").strip()
                if not case_id:
                    raise InvalidInput(f"{path.name}: line {n} has an empty case_id")
                if case_id in rows:
                    raise InvalidInput(f"{path.name}: case_id {case_id!r} is listed twice (line {n})")
                attrs: dict = {}
                for k, v in row.items():
                    low = k.lower()
                    if low in PATIENT_ID_COLUMNS and v.strip():
                        attrs["_patient_id"] = v.strip()
                    elif low not in PHI_COLUMNS and k:
                        attrs[k] = _parse(v)
                rows[case_id] = attrs
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise InvalidInput(f"{path.name}: unreadable manifest ({err})") from err
    return rows
