"""Scanner geometry of a volume, kept exactly as ingested so exports go back to scanner space.

Conventions (those of ITK/SimpleITK and DICOM), used everywhere in Concord:

- voxel arrays are numpy ``(Z, Y, X)`` (slowest axis first, as ``sitk.GetArrayFromImage``);
- ``spacing`` and ``origin`` are given in index order ``(x, y, z)``, millimetres;
- ``origin`` is the centre of voxel ``(0, 0, 0)`` in LPS patient coordinates;
- ``direction`` is the 3x3 matrix, row-major (9 floats), whose *columns* are the LPS unit
  vectors of the index axes i (x), j (y), k (z).

Pure module: no Django, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Geometry", "IDENTITY_DIRECTION"]

IDENTITY_DIRECTION: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


@dataclass(frozen=True)
class Geometry:
    """Spacing, origin and direction of a volume in LPS millimetres (see module docstring)."""

    spacing: tuple[float, float, float]
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, ...] = field(default=IDENTITY_DIRECTION)

    def __post_init__(self) -> None:
        if len(self.spacing) != 3 or len(self.origin) != 3 or len(self.direction) != 9:
            raise ValueError("geometry needs 3 spacings, 3 origin coordinates and 9 direction cosines")
        if not all(np.isfinite(self.spacing)) or min(self.spacing) <= 0:
            raise ValueError(f"spacing must be positive and finite, got {self.spacing}")
        d = self.direction_matrix
        if not np.allclose(d.T @ d, np.eye(3), atol=1e-3):
            raise ValueError(f"direction cosines are not orthonormal: {self.direction}")

    @property
    def direction_matrix(self) -> np.ndarray:
        """(3, 3) float64; column k is the LPS direction of index axis k (x, y, z)."""
        return np.asarray(self.direction, dtype=np.float64).reshape(3, 3)

    @property
    def spacing_zyx(self) -> tuple[float, float, float]:
        """Spacing in array axis order, for numpy code on ``(Z, Y, X)`` arrays."""
        return (self.spacing[2], self.spacing[1], self.spacing[0])

    def index_to_lps(self) -> np.ndarray:
        """(4, 4) affine mapping (i, j, k, 1) index coordinates (x, y, z order) to LPS mm."""
        a = np.eye(4)
        a[:3, :3] = self.direction_matrix @ np.diag(self.spacing)
        a[:3, 3] = self.origin
        return a

    def nifti_affine(self) -> np.ndarray:
        """(4, 4) RAS affine for nibabel, mapping (i, j, k) of the array transposed to (X, Y, Z)."""
        a = self.index_to_lps()
        a[:3, :] = _LPS_TO_RAS @ a[:3, :]
        return a

    @classmethod
    def from_nifti_affine(cls, affine: np.ndarray) -> Geometry:
        """Build from a nibabel RAS affine (of an array in (X, Y, Z) order)."""
        a = np.asarray(affine, dtype=np.float64).copy()
        a[:3, :] = _LPS_TO_RAS @ a[:3, :]
        m = a[:3, :3]
        spacing = np.linalg.norm(m, axis=0)
        if np.any(spacing <= 0):
            raise ValueError("affine has a zero-length axis")
        direction = m / spacing
        return cls(
            spacing=tuple(float(s) for s in spacing),  # type: ignore[arg-type]
            origin=tuple(float(o) for o in a[:3, 3]),  # type: ignore[arg-type]
            direction=tuple(float(v) for v in direction.reshape(-1)),
        )

    def to_dict(self) -> dict[str, list[float]]:
        return {"spacing": list(self.spacing), "origin": list(self.origin), "direction": list(self.direction)}

    @classmethod
    def from_dict(cls, d: dict) -> Geometry:
        return cls(
            spacing=tuple(float(v) for v in d["spacing"]),  # type: ignore[arg-type]
            origin=tuple(float(v) for v in d["origin"]),  # type: ignore[arg-type]
            direction=tuple(float(v) for v in d["direction"]),
        )
