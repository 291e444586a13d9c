"""A demo project made of generated phantom volumes, so a newcomer sees cases at once.

Needs no data set: each phantom is an ellipsoid body with two "lungs" and a nodule, in HU,
written as NIfTI and ingested through the normal ingest path (with two simulated raters).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
from django.contrib.auth import get_user_model
from scipy import ndimage

from core.geometry import Geometry
from core.models import Project, Role
from core.services.ingest import ingest
from core.services.projects import create_project, set_member

__all__ = ["phantom", "seed_demo"]

DEMO_SLUG = "demo"


def phantom(shape: tuple[int, int, int] = (48, 128, 128), *, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A (Z, Y, X) int16 CT-like phantom in HU and its uint8 nodule mask."""
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    cz, cy, cx = (s / 2 for s in shape)
    body = ((z - cz) / (shape[0] * 0.6)) ** 2 + ((y - cy) / (shape[1] * 0.42)) ** 2 + ((x - cx) / (shape[2] * 0.46)) ** 2 < 1
    img = np.full(shape, -1000, np.int16)
    img[body] = 40
    for side in (-1, 1):
        lung = ((z - cz) / (shape[0] * 0.45)) ** 2 + ((y - cy) / (shape[1] * 0.3)) ** 2 + (
            (x - cx - side * shape[2] * 0.2) / (shape[2] * 0.15)) ** 2 < 1
        img[lung] = -850
    c = np.array([cz, cy, cx]) + rng.uniform(-0.15, 0.15, 3) * np.array(shape)
    c[2] = cx + rng.choice([-1, 1]) * shape[2] * 0.2
    r = rng.uniform(4, 9)
    mask = (((z - c[0]) * 1.5) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 < r**2).astype(np.uint8)
    img[mask > 0] = 30
    img = img + rng.normal(0, 15, shape).astype(np.int16)
    return img, mask


def _rater(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    op = ndimage.binary_dilation if rng.random() < 0.5 else ndimage.binary_erosion
    return op(mask, iterations=1).astype(np.uint8) if mask.sum() > 50 else mask


def seed_demo(*, n_cases: int = 6, seed: int = 0, password: str = "concord-demo") -> Project:
    """Create (once) the demo project, its users (admin, manager, two annotators) and phantom cases."""
    users = get_user_model()
    admin, _ = users.objects.get_or_create(username="admin", defaults={"is_staff": True, "is_superuser": True})
    admin.set_password(password)
    admin.save()
    project = Project.objects.filter(slug=DEMO_SLUG).first()
    if project is None:
        project = create_project(slug=DEMO_SLUG, name="Demo: lung nodules (phantoms)", owner=admin,
                                 raters_per_case=2,
                                 label_schema=[{"value": 1, "name": "nodule", "color": "#ff4d4d"}])
    for name, role in [("manager", Role.MANAGER), ("annotator1", Role.ANNOTATOR), ("annotator2", Role.ANNOTATOR)]:
        u, _ = users.objects.get_or_create(username=name)
        u.set_password(password)
        u.save()
        set_member(project=project, user=u, role=role)
    if project.cases.exists():
        return project
    rng = np.random.default_rng(seed)
    geometry = Geometry(spacing=(0.8, 0.8, 2.5))
    with tempfile.TemporaryDirectory(prefix="concord-demo-") as tmp:
        for i in range(n_cases):
            img, mask = phantom(rng=rng)
            folder = Path(tmp) / f"phantom-{i:02d}"
            folder.mkdir()
            aff = geometry.nifti_affine()
            nib.save(nib.Nifti1Image(img.transpose(2, 1, 0).copy(), aff), folder / "image.nii.gz")
            # half the cases come with two recorded raters (agreement to look at at once); the
            # other half wait in the queue for annotator1 and annotator2
            for r in ((1, 2) if i < n_cases // 2 else ()):
                nib.save(nib.Nifti1Image(_rater(mask, rng).transpose(2, 1, 0).copy(), aff),
                         folder / f"rater-{r}.nii.gz")
        ingest(path=Path(tmp), project=project)
    return project
