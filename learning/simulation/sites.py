"""Synthetic acquisition sites: a controlled subgroup with a known, real performance gap.

Why: a bias audit is judged by whether it finds the sign of a gap between subgroups. On LIDC's own
attributes (contrast, slice thickness) models trained on one subgroup hardly differ between subgroups
(true gaps 0.01-0.07 Dice, none significant), so a sign test there measures noise. A synthetic second
"site" whose scanner renders the images differently (darker, lower contrast, noisier and softer, as a
different dose and reconstruction kernel would) gives a subgroup on which a model trained at the other
site really does worse, while the labels stay the raters' own.

Two designs (``SITE_DESIGNS``), each a mapping site -> rendering (a site not in it keeps the original):
- ``"new_scanner"``: site B degraded (``SiteShift()``), site A the original acquisition. The OOD setting: a
  scanner joins that the model never saw. As a bias experiment it is one-sided: B is intrinsically
  harder, so a model trained on B alone still does no better on B than on A (validation patients: true
  gaps +0.11 and +0.07 for B-only training, against +0.30 for A-only).
- ``"two_protocols"``: the two sites compress opposite ends of the intensity range (gamma 0.4 and 2.5,
  as two windowing/reconstruction protocols would), neither a degraded copy of the other, so a model
  trained at either site does worse at the other (validation patients, 2 splits x 2 repeats: A-only
  +0.02 to +0.45, B-only -0.05 to -0.26). The synthetic-bias experiment's design.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from learning.simulation.data import Case

__all__ = ["SITE_DESIGNS", "SiteShift", "render_site", "assign_sites", "with_sites"]


@dataclass(frozen=True)
class SiteShift:
    """How site "B" renders an image given as intensities in [0, 1].

    ``y = offset + gain * x ** gamma`` then Gaussian blur (``blur`` pixels, in-plane) and Gaussian noise
    (``noise``, same units), clipped to [0, 1].
    """

    gamma: float = 1.8
    gain: float = 0.6
    offset: float = 0.15
    blur: float = 0.8
    noise: float = 0.05

    def __post_init__(self) -> None:
        if self.gamma <= 0 or self.gain <= 0 or self.blur < 0 or self.noise < 0:
            raise ValueError("gamma and gain must be > 0, blur and noise >= 0")


SITE_DESIGNS: dict[str, dict[str, SiteShift]] = {
    "new_scanner": {"B": SiteShift()},
    "two_protocols": {"A": SiteShift(gamma=0.4, gain=1.0, offset=0.0, blur=0.0, noise=0.0),
                      "B": SiteShift(gamma=2.5, gain=1.0, offset=0.0, blur=0.0, noise=0.0)},
}


def render_site(image: np.ndarray, shift: SiteShift, rng: np.random.Generator) -> np.ndarray:
    """Render a ``(Z, Y, X)`` uint8 image as the site ``shift`` describes would; uint8 of the same shape out."""
    if image.dtype != np.uint8:
        raise ValueError(f"render_site expects a uint8 image (LIDC crops), got {image.dtype}")
    x = image.astype(np.float32) / 255.0
    y = shift.offset + shift.gain * np.power(x, shift.gamma)
    if shift.blur > 0:
        y = ndimage.gaussian_filter(y, sigma=(0.0, shift.blur, shift.blur))
    y = y + rng.normal(0.0, shift.noise, y.shape).astype(np.float32)
    return np.clip(np.rint(y * 255.0), 0, 255).astype(np.uint8)


def assign_sites(patient_ids: Sequence[str], rng: np.random.Generator) -> dict[str, str]:
    """Each patient to site ``"A"`` or ``"B"`` (half each, at random): a patient's cases share a site."""
    patients = sorted(set(patient_ids))
    order = rng.permutation(len(patients))
    return {patients[j]: ("A" if rank < len(patients) // 2 else "B") for rank, j in enumerate(order)}


def with_sites(
    cases: Sequence[Case], sites: Mapping[str, str], shifts: Mapping[str, SiteShift], rng: np.random.Generator
) -> list[Case]:
    """The cases with a ``site`` attribute, each image rendered by its site's entry in ``shifts`` (a
    ``SITE_DESIGNS`` value; a site without one keeps the original image); labels unchanged."""
    out = []
    for c in cases:
        site = sites[c.patient_id]
        image = render_site(c.image, shifts[site], rng) if site in shifts else c.image
        out.append(replace(c, image=image, attributes={**c.attributes, "site": site}))
    return out
