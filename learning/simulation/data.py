"""Read a folder in the LIDC layout into memory and split it by patient.

Layout: ``<data>/manifest.csv`` with at least ``case_id`` and ``patient_id`` columns (other columns are
kept as attributes), and ``<data>/<case_id>/image.nii.gz`` plus ``rater-N.nii.gz`` masks. Arrays are
read with nibabel as ``(Z, Y, X)`` (the file's ``(i, j, k)`` reversed, not reoriented: SimpleITK's order
and values) and centre-cropped in-plane to ``crop`` pixels (LIDC nodule crops are centred on the nodule).
Empty rater masks are dropped from ``raters`` (an empty mask marks a reader who did not outline the
structure); ``Case.readers`` gives them back as empty masks, the LIDC papers' convention for GED.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

__all__ = ["Case", "load_cases", "split_by_patient", "default_data_path"]


def default_data_path() -> Path:
    """The shared LIDC folder: ``<repo>/../shared/data/lidc``."""
    return Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "lidc"


@dataclass(frozen=True)
class Case:
    """One case in memory.

    Args:
        case_id, patient_id: identifiers from the manifest.
        image: ``(Z, Y, X)`` uint8 (or the file's dtype) image.
        raters: ``(R, Z, Y, X)`` uint8 non-empty rater masks (R >= 1; all raters when all are empty).
        attributes: the manifest row's other columns, as strings.
        n_readers: rater masks in the folder, empty ones included (0: as many as ``raters``).
    """

    case_id: str
    patient_id: str
    image: np.ndarray
    raters: np.ndarray
    attributes: dict[str, str] = field(default_factory=dict)
    n_readers: int = 0

    @property
    def reader_count(self) -> int:
        """Readers of the case: its rater masks, empty ones included."""
        return max(self.n_readers, len(self.raters))

    def readers(self, n: int | None = None) -> np.ndarray:
        """``(n, Z, Y, X)`` uint8: every reader's mask, an empty one for each reader who outlined nothing.

        In LIDC four readers read every scan and one who did not mark a nodule has an empty mask; the
        published GED figures (Kohl et al. 2018, PHiSeg) count those, and a model of the readers'
        variability must learn from them that a faint nodule is sometimes not outlined at all.
        ``n`` (default ``n_readers``) larger than the readers cycles through them.
        """
        total = self.reader_count
        m = np.concatenate([self.raters, np.zeros((total - len(self.raters), *self.raters.shape[1:]), np.uint8)])
        return m[np.arange(total if n is None else n) % total]


def _read(path: Path) -> np.ndarray:
    return np.ascontiguousarray(np.asanyarray(nib.load(path).dataobj).T)


def _centre_crop(a: np.ndarray, crop: int | None) -> np.ndarray:
    if crop is None:
        return a
    y0 = max((a.shape[-2] - crop) // 2, 0)
    x0 = max((a.shape[-1] - crop) // 2, 0)
    out = a[..., y0 : y0 + crop, x0 : x0 + crop]
    pad = [(0, 0)] * (a.ndim - 2) + [(0, crop - out.shape[-2]), (0, crop - out.shape[-1])]
    return np.pad(out, pad) if any(p[1] for p in pad) else out


def load_cases(
    data: Path,
    *,
    crop: int | None = 64,
    min_slices: int = 1,
    max_cases: int | None = None,
    rng: np.random.Generator | None = None,
) -> list[Case]:
    """Load cases from ``data``.

    Args:
        data: the folder.
        crop: in-plane centre crop in pixels (None: keep the full slice).
        min_slices: skip cases with fewer Z slices (uses the manifest's ``n_slices`` when present).
        max_cases: keep at most this many cases, chosen with ``rng`` (all when None).
        rng: subset choice (required with ``max_cases``).

    Returns:
        Cases in manifest order.
    """
    data = Path(data)
    with open(data / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if rows and not {"case_id", "patient_id"} <= set(rows[0]):
        raise ValueError("manifest.csv needs case_id and patient_id columns")
    if "n_slices" in (rows[0] if rows else {}):
        rows = [r for r in rows if int(r["n_slices"]) >= min_slices]
    if max_cases is not None and len(rows) > max_cases:
        if rng is None:
            raise ValueError("max_cases needs rng")
        keep = np.sort(rng.choice(len(rows), size=max_cases, replace=False))
        rows = [rows[i] for i in keep]
    cases = []
    for r in rows:
        folder = data / r["case_id"]
        image = _read(folder / "image.nii.gz")
        if image.shape[0] < min_slices:
            continue
        masks = [_read(p).astype(np.uint8) for p in sorted(folder.glob("rater-*.nii.gz"))]
        if not masks:
            continue
        nonempty = [m for m in masks if m.any()] or masks
        attrs = {k: v for k, v in r.items() if k not in ("case_id", "patient_id")}
        cases.append(
            Case(
                case_id=r["case_id"],
                patient_id=r["patient_id"],
                image=_centre_crop(image, crop),
                raters=_centre_crop(np.stack(nonempty), crop),
                attributes=attrs,
                n_readers=len(masks),
            )
        )
    return cases


def split_by_patient(
    patient_ids: Sequence[str], *, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of training and test cases, no patient on both sides.

    Returns:
        ``(train_idx, test_idx)`` int64 arrays (sorted).
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    pids = np.asarray(patient_ids)
    uniq = np.unique(pids)
    n_test = max(1, int(round(test_fraction * len(uniq))))
    if n_test >= len(uniq):
        raise ValueError("need at least two patients to split")
    test_p = set(rng.choice(uniq, size=n_test, replace=False).tolist())
    is_test = np.array([p in test_p for p in pids])
    return np.nonzero(~is_test)[0].astype(np.int64), np.nonzero(is_test)[0].astype(np.int64)
