from __future__ import annotations

import json

import pytest
import torch

from learning.nets import (
    NetConfig,
    bottleneck_and_statistics,
    bottleneck_block,
    bottleneck_features,
    build_segmenter,
    encoder_statistics,
)


@pytest.mark.parametrize("dims,shape", [(2, (2, 1, 16, 16)), (3, (2, 1, 8, 16, 16))])
def test_build_segmenter_shapes(dims, shape):
    net = build_segmenter(NetConfig(spatial_dims=dims, channels=(4, 8, 16), strides=(2, 2), dropout=0.2))
    assert net(torch.zeros(shape)).shape == (shape[0], 2, *shape[2:])
    assert any(isinstance(m, torch.nn.Dropout) or "Dropout" in type(m).__name__ for m in net.modules())


def test_bottleneck_features_vector():
    net = build_segmenter(NetConfig(spatial_dims=3, channels=(4, 8, 16), strides=(2, 2))).eval()
    feats = bottleneck_features(net, torch.randn(3, 1, 8, 16, 16))
    assert feats.shape == (3, 16) and feats.dtype == torch.float32
    assert not bottleneck_block(net)._forward_hooks, "the hook is removed"


def test_encoder_statistics_see_a_contrast_change_that_instance_norm_hides():
    """Scaling an image's intensities moves the pre-normalisation statistics several times more than
    the (instance-normalised) bottleneck: that is why OOD scores use them."""
    torch.manual_seed(0)
    net = build_segmenter(NetConfig(spatial_dims=2, channels=(4, 8, 16), strides=(2, 2), num_res_units=1)).eval()
    x = torch.rand(2, 1, 32, 32)
    stats, stats_scaled = encoder_statistics(net, x), encoder_statistics(net, 3.0 * x)
    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.instancenorm._InstanceNorm)]
    # one normalisation layer per encoder level (two down blocks and the bottom); none of the decoder's
    assert [tuple(s.shape) for s in stats] == [(2, 4), (2, 8), (2, 16)] and len(norms) == 6
    assert not any(n._forward_hooks for n in norms), "the hooks are removed"
    moved = (stats_scaled[0] - stats[0]).abs().mean() / stats[0].abs().mean()
    b, b_scaled = bottleneck_features(net, x), bottleneck_features(net, 3.0 * x)
    still = (b_scaled - b).abs().mean() / b.abs().mean()
    assert moved > 0.5 and still < 0.25 * moved


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(spatial_dims=4),
        dict(channels=(4,)),
        dict(channels=(4, 8, 16), strides=(2,)),
        dict(strides=(2, 0, 2)),
        dict(dropout=1.0),
        dict(norm="group"),
        dict(kernel_size=2),
        dict(out_channels=0),
        dict(num_res_units=-1),
    ],
)
def test_bad_net_config(kwargs):
    with pytest.raises(ValueError):
        NetConfig(**kwargs)


def test_build_segmenter_rejects_non_config():
    with pytest.raises(ValueError):
        build_segmenter({"spatial_dims": 3})  # type: ignore[arg-type]


def test_net_config_round_trip():
    c = NetConfig(spatial_dims=2, in_channels=3, channels=(4, 8), strides=(2,), dropout=0.1)
    assert NetConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c


def test_encoder_statistics_without_normalisation_pool_the_encoder_blocks():
    """A net without normalisation layers gives its encoder blocks' pooled outputs; the last is the
    bottleneck's."""
    torch.manual_seed(0)
    net = build_segmenter(NetConfig(spatial_dims=2, channels=(4, 8, 16), strides=(2, 2), norm="none")).eval()
    x = torch.rand(3, 1, 16, 16)
    stats = encoder_statistics(net, x)
    assert [tuple(s.shape) for s in stats] == [(3, 4), (3, 8), (3, 16)]
    torch.testing.assert_close(stats[-1], bottleneck_features(net, x))


def test_bottleneck_and_statistics_in_one_pass_equal_the_two_calls():
    torch.manual_seed(0)
    net = build_segmenter(NetConfig(spatial_dims=3, channels=(4, 8, 16), strides=(2, 2), num_res_units=1)).eval()
    x = torch.rand(2, 1, 8, 16, 16)
    calls = []
    handle = net.register_forward_hook(lambda *_: calls.append(1))
    bottleneck, stats = bottleneck_and_statistics(net, x)
    handle.remove()
    assert len(calls) == 1
    torch.testing.assert_close(bottleneck, bottleneck_features(net, x))
    for a, b in zip(stats, encoder_statistics(net, x), strict=True):
        torch.testing.assert_close(a, b)
