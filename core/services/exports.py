"""Writing stored images back to files in their original scanner geometry."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from core.errors import InvalidInput
from core.geometry import Geometry
from core.models import Case
from core.services.volumes import open_published

__all__ = ["export_image_nifti", "write_nifti"]


def write_nifti(array: np.ndarray, geometry: Geometry, out: Path) -> Path:
    """Write a (Z, Y, X) array as NIfTI with the volume's RAS affine (sform and qform code 1)."""
    out = Path(out)
    if not out.name.endswith((".nii", ".nii.gz")):
        raise InvalidInput(f"{out.name}: the output must end with .nii or .nii.gz")
    out.parent.mkdir(parents=True, exist_ok=True)
    img = nib.Nifti1Image(np.ascontiguousarray(array.transpose(2, 1, 0)), geometry.nifti_affine())
    img.set_sform(geometry.nifti_affine(), code=1)
    img.set_qform(geometry.nifti_affine(), code=1)
    tmp = out.with_name(".part-" + out.name)
    nib.save(img, tmp)
    tmp.replace(out)  # never leave a half-written file under the requested name
    return out


def export_image_nifti(case: Case, out: Path) -> Path:
    """The stored image, checksum-verified, as NIfTI in scanner geometry."""
    if not hasattr(case, "volume"):
        raise InvalidInput(f"case {case.pk} has no volume")
    store = open_published(case.volume)
    return write_nifti(store.read(0, verify=True), case.volume.geometry, out)
