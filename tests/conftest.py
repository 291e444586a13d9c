"""Shared fixtures and object builders (plain functions with overridable defaults)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from core.geometry import Geometry

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_data(name: str) -> Path:
    """A folder of ../shared/data, or skip the test (only where the data set is absent)."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"real data set {path} is absent (it ships beside the repository in CI)")
    return path


def write_nifti(path: Path, array_zyx: np.ndarray, geometry: Geometry | None = None) -> Path:
    """Write a (Z, Y, X) array as NIfTI with the geometry's affine."""
    geometry = geometry or Geometry(spacing=(0.8, 0.8, 2.0))
    nib.save(nib.Nifti1Image(np.ascontiguousarray(array_zyx.transpose(2, 1, 0)), geometry.nifti_affine()), path)
    return path


def make_case_folder(root: Path, name: str = "case-a", *, shape=(12, 32, 32), raters: int = 2, seed: int = 0,
                     geometry: Geometry | None = None) -> Path:
    """A case folder in the LIDC layout: image.nii.gz and rater-N.nii.gz."""
    rng = np.random.default_rng(seed)
    folder = root / name
    folder.mkdir(parents=True)
    image = rng.integers(-1000, 1000, size=shape, dtype=np.int16)
    write_nifti(folder / "image.nii.gz", image, geometry)
    zz, yy, xx = np.indices(shape)
    for r in range(1, raters + 1):
        c = np.array(shape) / 2 + rng.normal(0, 1, 3)
        mask = (((zz - c[0]) / 3) ** 2 + ((yy - c[1]) / 6) ** 2 + ((xx - c[2]) / 6) ** 2 < 1).astype(np.uint8)
        write_nifti(folder / f"rater-{r}.nii.gz", mask, geometry)
    return folder
