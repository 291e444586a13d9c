from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from monai.inferers import sliding_window_inference

from learning.data import ArrayReader, NormConfig
from learning.infer import InferConfig, predict, weight_map, window_starts
from learning.nets import NetConfig, build_segmenter
from tests.unit.learning.conftest import NO_NORM, TINY_NET_2D, TINY_NET_3D, CountingReader

CPU = torch.device("cpu")


def _whole(volume, net, cfg):
    x = torch.from_numpy(volume)[None, None]
    with torch.inference_mode():
        logits = sliding_window_inference(
            x, cfg.roi_size, cfg.sw_batch_size, net, overlap=cfg.overlap, mode=cfg.mode,
            roi_weight_map=weight_map(cfg.roi_size, cfg.mode, cfg.sigma_scale),
        )[0]
    probs = torch.softmax(logits, 0)
    return (probs[1] if probs.shape[0] == 2 else probs).numpy()


class _Writer:
    def __init__(self):
        self.calls = []

    def write(self, region, probs):
        self.calls.append((region, probs.copy()))


@pytest.mark.parametrize(
    "shape,roi,overlap,mode",
    [
        ((40, 24, 20), (16, 16, 16), 0.25, "gaussian"),
        ((37, 30, 33), (16, 16, 16), 0.5, "constant"),
        ((50, 16, 16), (8, 16, 16), 0.6, "gaussian"),
        ((10, 12, 20), (16, 16, 16), 0.25, "gaussian"),
    ],
)
def test_slab_equals_whole_volume(shape, roi, overlap, mode):
    torch.manual_seed(0)
    net = build_segmenter(TINY_NET_3D).eval()
    vol = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    cfg = InferConfig(roi_size=roi, sw_batch_size=3, overlap=overlap, mode=mode, normalisation=NO_NORM)
    reader = CountingReader(vol)
    writer = _Writer()
    got = predict(reader, net, config=cfg, device=CPU, out=writer)
    assert got.shape == shape and got.dtype == np.float32
    np.testing.assert_allclose(got, _whole(vol, net, cfg), atol=1e-4)
    # the writer saw disjoint slabs, in Z order, covering the volume
    zs = [(r[0].start, r[0].stop) for r, _ in writer.calls]
    assert zs[0][0] == 0 and zs[-1][1] == shape[0] and all(a[1] == b[0] for a, b in zip(zs, zs[1:]))
    for region, probs in writer.calls:
        np.testing.assert_array_equal(probs, got[region])
    if shape[0] > 2 * roi[0]:
        assert len(writer.calls) > 1
        assert all(r[0].stop - r[0].start <= roi[0] for r in reader.regions), "reads stay one window deep"


def test_window_starts_match_monai_grid():
    from monai.data.utils import dense_patch_slices

    for size, roi, ov in [(128, 64, 0.25), (37, 16, 0.5), (16, 16, 0.25), (100, 7, 0.9)]:
        interval = roi if roi == size else max(int(roi * (1 - ov)), 1)
        ref = sorted({s[0].start for s in dense_patch_slices((size,), (roi,), (interval,))})
        assert window_starts(size, roi, ov) == ref


def test_multiclass_and_keep_false():
    net = build_segmenter(NetConfig(channels=(4, 8, 16), strides=(2, 2), out_channels=3)).eval()
    vol = np.random.default_rng(1).normal(size=(20, 16, 16)).astype(np.float32)
    cfg = InferConfig(roi_size=(8, 16, 16), normalisation=NO_NORM)
    probs = predict(vol, net, config=cfg, device=CPU)
    assert probs.shape == (3, 20, 16, 16)
    np.testing.assert_allclose(probs.sum(0), 1.0, atol=1e-5)
    writer = _Writer()
    assert predict(vol, net, config=cfg, device=CPU, out=writer, keep=False) is None
    assert sum(p.shape[1] for _, p in writer.calls) == 20


def test_zscore_uses_whole_volume_stats():
    net = build_segmenter(TINY_NET_3D).eval()
    vol = np.random.default_rng(2).normal(50, 10, size=(40, 16, 16)).astype(np.float32)
    cfg = InferConfig(roi_size=(8, 16, 16), normalisation=NormConfig(mode="zscore"))
    got = predict(ArrayReader(vol), net, config=cfg, device=CPU)
    ref_cfg = InferConfig(roi_size=(8, 16, 16), normalisation=NO_NORM)
    ref = _whole(((vol - vol.mean()) / vol.std()).astype(np.float32), net, ref_cfg)
    np.testing.assert_allclose(got, ref, atol=1e-4)


def test_2d_slabs_match_one_pass_and_restore_mode():
    net = build_segmenter(NetConfig(spatial_dims=2, in_channels=3, channels=(4, 8, 16), strides=(2, 2)))
    net.train()
    vol = np.random.default_rng(3).normal(size=(7, 20, 24)).astype(np.float32)
    a = predict(vol, net, config=InferConfig(roi_size=(16, 16), context_slices=3, slab_depth=2, normalisation=NO_NORM), device=CPU)
    b = predict(vol, net, config=InferConfig(roi_size=(16, 16), context_slices=3, slab_depth=64, normalisation=NO_NORM), device=CPU)
    assert a.shape == (7, 20, 24)
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert net.training, "predict restores the caller's mode"
    # single-slice context: a 2D model on one slice equals calling it directly when roi covers the slice
    net1 = build_segmenter(TINY_NET_2D).eval()
    one = predict(vol[:, :16, :16].copy(), net1, config=InferConfig(roi_size=(16, 16), normalisation=NO_NORM), device=CPU)
    with torch.inference_mode():
        direct = torch.softmax(net1(torch.from_numpy(vol[:, None, :16, :16].copy())), 1)[:, 1].numpy()
    np.testing.assert_allclose(one, direct, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs",
    [dict(roi_size=(8,)), dict(overlap=1.0), dict(mode="linear"), dict(sw_batch_size=0), dict(context_slices=2)],
)
def test_bad_infer_config(kwargs):
    with pytest.raises(ValueError):
        InferConfig(**kwargs)


def test_infer_config_round_trip():
    c = InferConfig(roi_size=(32, 32), context_slices=3, normalisation=NormConfig(mode="zscore", nonzero=True))
    assert InferConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c


def test_mc_dropout_samples_differ_and_plain_predict_is_fixed():
    net = build_segmenter(NetConfig(channels=(4, 8, 16), strides=(2, 2), dropout=0.3))
    vol = np.random.default_rng(4).normal(size=(8, 16, 16)).astype(np.float32)
    cfg = InferConfig(roi_size=(8, 16, 16), normalisation=NO_NORM)
    a = predict(vol, net, config=cfg, device=CPU)
    b = predict(vol, net, config=cfg, device=CPU)
    np.testing.assert_array_equal(a, b)
    torch.manual_seed(0)
    s1 = predict(vol, net, config=cfg, device=CPU, mc_dropout=True)
    s2 = predict(vol, net, config=cfg, device=CPU, mc_dropout=True)
    torch.manual_seed(0)
    s1_again = predict(vol, net, config=cfg, device=CPU, mc_dropout=True)
    assert not np.allclose(s1, s2)
    np.testing.assert_array_equal(s1, s1_again)
