import numpy as np
import pytest

from learning.simulation.data import Case
from learning.simulation.sites import SITE_DESIGNS, SiteShift, assign_sites, render_site, with_sites


def _case(pid: str, value: int = 200) -> Case:
    img = np.zeros((3, 16, 16), np.uint8)
    img[:, 4:12, 4:12] = value
    return Case(case_id=f"{pid}-c", patient_id=pid, image=img, raters=(img[None] > 0).astype(np.uint8))


def test_render_site_lowers_contrast_and_keeps_shape() -> None:
    img = _case("p").image
    out = render_site(img, SiteShift(), np.random.default_rng(0))
    assert out.shape == img.shape and out.dtype == np.uint8
    inside, outside = out[:, 6:10, 6:10].mean(), out[:, :2, :2].mean()
    assert inside - outside < 0.8 * (200 - 0)  # contrast reduced
    assert outside > 10  # the offset lifts the background
    assert out[:, :2, :2].std() > 0  # noise added


def test_render_site_rejects_non_uint8() -> None:
    with pytest.raises(ValueError, match="uint8"):
        render_site(np.zeros((1, 4, 4), np.float32), SiteShift(), np.random.default_rng(0))


def test_sites_split_patients_in_halves_and_shift_only_site_b() -> None:
    cases = [_case(f"p{i}") for i in range(10)] + [_case("p0")]
    sites = assign_sites([c.patient_id for c in cases], np.random.default_rng(3))
    assert sorted(sites.values()).count("A") == 5 and len(sites) == 10
    out = with_sites(cases, sites, SITE_DESIGNS["new_scanner"], np.random.default_rng(4))
    for before, after in zip(cases, out):
        assert after.attributes["site"] == sites[before.patient_id]
        assert np.array_equal(after.raters, before.raters)
        assert np.array_equal(after.image, before.image) == (after.attributes["site"] == "A")


def test_two_protocols_render_both_sites_with_opposite_compression() -> None:
    """Neither site keeps the original; A brightens mid-greys, B darkens them, foreground order kept."""
    cases = [_case(f"p{i}", value=128) for i in range(6)]
    sites = assign_sites([c.patient_id for c in cases], np.random.default_rng(0))
    out = with_sites(cases, sites, SITE_DESIGNS["two_protocols"], np.random.default_rng(1))
    for before, after in zip(cases, out):
        inside = after.image[:, 6:10, 6:10].mean()
        assert (inside > 128) if after.attributes["site"] == "A" else (inside < 128)
        assert after.image[:, 6:10, 6:10].min() > after.image[:, :2, :2].max()  # object still brighter
        assert np.array_equal(after.raters, before.raters)
