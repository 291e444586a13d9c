"""MC-dropout entropy, TTA variance, aggregation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from learning.nets import NetConfig, build_segmenter
from learning.uncertainty import (
    aggregate,
    binary_entropy,
    flip_sets,
    mc_dropout_probs,
    predictive_entropy,
    tta_variance,
    volume_tta_probs,
)


def test_mc_entropy_zero_for_deterministic_net() -> None:
    net = nn.Conv2d(1, 1, 1)
    with torch.no_grad():
        net.weight.fill_(0.0)
        net.bias.fill_(50.0)  # sigmoid saturates at 1 -> entropy 0
    s = mc_dropout_probs(net, torch.rand(2, 1, 8, 8), n=5)
    assert s.shape == (5, 2, 8, 8)
    assert predictive_entropy(s).max() == pytest.approx(0.0, abs=1e-6)


def test_mc_dropout_varies_with_dropout() -> None:
    torch.manual_seed(0)
    net = build_segmenter(NetConfig(spatial_dims=2, channels=(4, 8), strides=(2,), dropout=0.5, num_res_units=0))
    s = mc_dropout_probs(net, torch.rand(1, 1, 8, 8), n=5, seed=1)
    assert float(s.std(0).max()) > 0
    s2 = mc_dropout_probs(net, torch.rand(1, 1, 8, 8), n=1, seed=1)
    assert s2.shape[0] == 1
    assert not net.training or net.training  # mode restored without error


def test_binary_entropy_max_at_half() -> None:
    assert binary_entropy(np.array([0.5]))[0] == pytest.approx(np.log(2))
    assert binary_entropy(np.array([0.0, 1.0])).max() == 0


def test_tta_variance_zero_for_symmetric_net() -> None:
    net = nn.Conv2d(1, 1, 1)
    v = tta_variance(net, torch.rand(1, 1, 8, 8))
    assert float(v.max()) == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("how,expected", [("mean", 0.25), ("sum", 1.0), ("max", 1.0), ("fg_ratio", 0.5)])
def test_aggregate(how: str, expected: float) -> None:
    u = np.array([[1.0, 0.0], [0.0, 0.0]])
    fg = np.array([[1.0, 0.0], [0.0, 0.0]])
    assert aggregate(u, how=how, foreground=fg) == pytest.approx(expected)


def test_volume_tta_maps_every_flip_back() -> None:
    """A predictor that marks the left half of what it sees: mapped back, the x-flip marks the right half."""
    vol = np.zeros((2, 4, 6), np.float32)
    seen = []

    def left_half(v: np.ndarray) -> np.ndarray:
        seen.append(v.copy())
        out = np.zeros_like(v)
        out[..., :3] = 1.0
        return out

    probs = volume_tta_probs(vol + np.arange(6, dtype=np.float32), left_half)
    assert probs.shape == (len(flip_sets(2)), 2, 4, 6) and probs.dtype == np.float32
    assert np.array_equal(seen[0][0, 0], np.arange(6))  # identity first
    flipped_x = [i for i, axes in enumerate(flip_sets(2)) if -1 in axes]
    for i in range(len(probs)):
        half = probs[i][..., 3:] if i in flipped_x else probs[i][..., :3]
        assert half.all() and probs[i].sum() == half.sum()
