from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from annotation.metrics.chance import fleiss_kappa, krippendorff_alpha
from annotation.metrics.distance import hd95
from annotation.metrics.overlap import dice
from annotation.metrics.report import agreement_report
from annotation.metrics.staple import staple
from tests.unit.annotation.metrics.conftest import make_rater_masks

SPACING = (2.5, 0.7, 0.7)


def test_report_matches_single_metrics() -> None:
    masks = make_rater_masks(4, seed=7)
    rep = agreement_report(masks, spacing=SPACING)
    s = rep.structures[1]
    for i, j in itertools.combinations(range(4), 2):
        assert s.dice[i, j] == pytest.approx(dice(masks[i], masks[j]))
        assert s.hd95_mm[i, j] == pytest.approx(hd95(masks[i], masks[j], spacing=SPACING), abs=1e-5)
    assert s.fleiss_kappa == pytest.approx(fleiss_kappa(masks))
    assert s.krippendorff_alpha == pytest.approx(krippendorff_alpha(masks))
    np.testing.assert_allclose(s.staple_sensitivity, staple(masks).sensitivity)
    np.testing.assert_allclose(s.volume_mm3, masks.reshape(4, -1).sum(1) * np.prod(SPACING))
    assert rep.case_agreement == pytest.approx(s.dice[np.triu_indices(4, 1)].mean())
    json.dumps(rep.to_dict())


def test_dask_path_equals_numpy_path() -> None:
    masks = make_rater_masks(3, shape=(40, 32, 32), seed=8)
    a = agreement_report(masks, spacing=SPACING, use_dask=False).to_dict()
    b = agreement_report(masks, spacing=SPACING, use_dask=True).to_dict()
    assert b.pop("used_dask") and not a.pop("used_dask")
    assert a == b


def test_multilabel_report() -> None:
    masks = make_rater_masks(3, seed=9)
    labels = masks.astype(np.uint8) * 2
    labels[:, :6] = np.where(masks[:, :6] > 0, 1, 0)
    rep = agreement_report(labels, spacing=SPACING, rater_names=["a", "b", "c"])
    assert set(rep.structures) == {1, 2}
    assert rep.fleiss_kappa_all_labels is not None
    assert rep.structures[2].dice[0, 1] == pytest.approx(dice(labels[0] == 2, labels[1] == 2))


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="raters"):
        agreement_report(np.zeros((1, 2, 2, 2)), spacing=SPACING)
    with pytest.raises(ValueError, match="spacing"):
        agreement_report(np.zeros((2, 2, 2, 2)), spacing=(1.0, 1.0))
    with pytest.raises(ValueError, match="names"):
        agreement_report(np.zeros((2, 2, 2, 2)), spacing=SPACING, rater_names=["x"])
