"""Builders and real-data fixtures for the metric tests."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from scipy import ndimage

from tests.conftest import shared_data

# patients whose crops may mix two scans (see the data set's README)
_MIXED = {"LIDC-IDRI-0132", "LIDC-IDRI-0365", "LIDC-IDRI-0442", "LIDC-IDRI-0484"}


def make_rater_masks(k: int = 4, shape: tuple[int, int, int] = (12, 24, 24), seed: int = 0) -> np.ndarray:
    """(k, Z, Y, X) uint8 masks: a ball with a smooth random boundary per rater."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.indices(shape, dtype=np.float64)
    c = np.array(shape) / 2.0
    r = ((zz - c[0]) / (shape[0] / 3)) ** 2 + ((yy - c[1]) / (shape[1] / 3)) ** 2 + ((xx - c[2]) / (shape[2] / 3)) ** 2
    out = np.zeros((k, *shape), dtype=np.uint8)
    for i in range(k):
        noise = ndimage.gaussian_filter(rng.normal(size=shape), 2.0)
        out[i] = (r + 3.0 * noise) < 1.0
    return out


def load_lidc_cases(n: int = 6) -> list[tuple[str, np.ndarray, tuple[float, float, float]]]:
    """First ``n`` LIDC crops with four non-empty masks: (case_id, (4, Z, Y, X) uint8, spacing zyx)."""
    import nibabel as nib

    lidc = shared_data("lidc")
    out = []
    with open(lidc / "manifest.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["raters_nonempty"] != "4" or int(row["n_slices"]) < 6 or row["patient_id"] in _MIXED:
                continue
            folder = lidc / row["case_id"]
            masks = []
            for k in range(1, 5):
                img = nib.load(folder / f"rater-{k}.nii.gz")
                masks.append(np.asarray(img.dataobj).T.astype(np.uint8))  # (x, y, z) -> (z, y, x)
            zooms = img.header.get_zooms()
            out.append((row["case_id"], np.stack(masks), (float(zooms[2]), float(zooms[1]), float(zooms[0]))))
            if len(out) == n:
                break
    return out


@pytest.fixture(scope="session")
def lidc_cases() -> list[tuple[str, np.ndarray, tuple[float, float, float]]]:
    return load_lidc_cases(6)


def to_sitk(mask: np.ndarray, spacing: tuple[float, float, float]):  # noqa: ANN201
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(np.ascontiguousarray(mask, dtype=np.uint8))
    img.SetSpacing(tuple(float(s) for s in spacing[::-1]))
    return img
