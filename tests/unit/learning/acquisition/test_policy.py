"""The acquisition policy refuses bad settings by name and round-trips through JSON."""

from __future__ import annotations

import json

import pytest

from learning.acquisition import SCORE_NAMES, AcquisitionPolicy


def test_defaults_weigh_every_score_and_round_trip() -> None:
    p = AcquisitionPolicy.from_dict({})
    assert p.strategy == "uncertainty_diversity" and p.method == "weighted" and p.batch == 10
    assert p.active_weights() == {n: 1.0 for n in SCORE_NAMES}
    assert AcquisitionPolicy.from_dict(json.loads(json.dumps(p.to_dict()))) == p


def test_given_weights_replace_the_defaults() -> None:
    p = AcquisitionPolicy.from_dict({"method": "borda", "weights": {"ood_mahalanobis": 2}})
    assert p.active_weights() == {"ood_mahalanobis": 2.0}
    assert p.to_dict()["weights"]["mc_entropy"] == 0.0


@pytest.mark.parametrize(("settings", "message"), [
    ({"strategy": "greedy"}, "strategy must be one of"),
    ({"method": "sum"}, "method must be one of"),
    ({"weights": {"entropy": 1}}, "unknown score(s) entropy"),
    ({"weights": {"mc_entropy": -1}}, "weights.mc_entropy must be a finite number >= 0"),
    ({"weights": {"mc_entropy": "high"}}, "weights.mc_entropy"),
    ({"weights": [1, 2]}, "weights must be an object"),
    ({"weights": {"mc_entropy": 0}}, "needs at least one score"),
    ({"batch": 0}, "batch must be an integer"),
    ({"batch": True}, "batch must be an integer"),
    ({"batchsize": 5}, "unknown acquisition setting(s) batchsize"),
])
def test_bad_settings_are_refused_by_name(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        AcquisitionPolicy.from_dict(settings)


def test_random_needs_no_scores() -> None:
    assert AcquisitionPolicy.from_dict({"strategy": "random", "weights": {}}).active_weights() == {}
