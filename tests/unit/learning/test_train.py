from __future__ import annotations

import io
import json
import math
from dataclasses import replace
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from learning.data import ArrayReader, AugmentConfig, NormConfig, TrainItem
from learning.infer import predict
from learning.nets import NetConfig
from learning.train import TrainConfig, load_checkpoint, load_model, mean_dice, save_checkpoint, train
from tests.conftest import shared_data
from tests.unit.learning.conftest import NO_NORM, TINY_NET_2D, TINY_NET_3D, make_blob_item

CPU = torch.device("cpu")


def _cfg3d(**kw) -> TrainConfig:
    base = dict(
        seed=0, patch=(16, 16, 16), batch_size=2, samples_per_item=4, max_epochs=4, lr=1e-2,
        net=TINY_NET_3D, normalisation=NO_NORM, augment=None,
    )
    return TrainConfig(**(base | kw))


def test_train_3d_reduces_loss_and_reports_progress():
    items = [make_blob_item(seed=i) for i in range(3)]
    seen = []
    result = train(_cfg3d(val_interval=2), items, [make_blob_item(seed=9)], device=CPU,
                   progress=lambda f, d: seen.append((f, d)))
    assert result.iterations == 4 * 6
    assert result.losses[-1] < result.losses[0]
    assert [f for f, _ in seen] == sorted(f for f, _ in seen) and seen[-1][0] == 1.0
    assert "val_dice" in result.history[1] and 0.0 <= result.best_val_dice <= 1.0
    assert result.best_epoch in (2, 4)


def test_train_2d_context_reduces_loss():
    items = [make_blob_item((6, 32, 32), seed=i, radius=6) for i in range(3)]
    cfg = TrainConfig(
        spatial_dims=2, patch=(16, 16), context_slices=3, batch_size=4, samples_per_item=8, max_epochs=4,
        lr=1e-2, pos_fraction=0.7, net=replace(TINY_NET_2D, in_channels=3), normalisation=NO_NORM,
        augment=AugmentConfig(),
    )
    result = train(cfg, items, device=CPU)
    assert result.losses[-1] < result.losses[0]
    assert math.isnan(result.best_val_dice) and result.state_dict


def test_same_seed_same_losses_other_seed_differs():
    items = [make_blob_item(seed=i) for i in range(2)]
    cfg = _cfg3d(max_epochs=2, augment=AugmentConfig(noise_prob=0.5))
    a = train(cfg, items, device=CPU)
    b = train(cfg, items, device=CPU)
    c = train(replace(cfg, seed=1), items, device=CPU)
    assert a.losses == b.losses
    assert a.state_dict == b.state_dict
    assert a.losses != c.losses


def test_max_iterations_and_early_stopping():
    items = [make_blob_item(seed=0)]
    r = train(_cfg3d(max_epochs=50, max_iterations=3), items, device=CPU)
    assert r.iterations == 3 and len(r.history) == 2
    r = train(_cfg3d(max_epochs=50, lr=1e-9, early_stopping_patience=1), items, [make_blob_item(seed=1)], device=CPU)
    assert r.stopped_early and len(r.history) < 50


def test_checkpoint_round_trip(tmp_path):
    item = make_blob_item(seed=0)
    result = train(_cfg3d(max_iterations=2), [item], device=CPU)
    buf = io.BytesIO()
    save_checkpoint(result, buf)
    config, model, extra = load_checkpoint(io.BytesIO(buf.getvalue()))
    assert config == result.config and extra["iterations"] == 2
    direct = load_model(result.config, result.state_dict)
    from_file_bytes = load_model(config.net, buf.getvalue())
    vol = item.image.read((slice(0, 24), slice(0, 32), slice(0, 32)))
    icfg = config.infer_config()
    outs = [predict(vol, m, config=icfg, device=CPU) for m in (model, direct, from_file_bytes)]
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])
    save_checkpoint(result, tmp_path / "m.pt")
    assert load_checkpoint(tmp_path / "m.pt")[0] == config
    with pytest.raises(ValueError):
        load_model(NetConfig(channels=(4, 8), strides=(2,)), result.state_dict)


def test_train_config_round_trip():
    cfg = TrainConfig(
        spatial_dims=2, patch=(64, 64), context_slices=3, max_iterations=10, amp=None,
        net=NetConfig(spatial_dims=2, in_channels=3, dropout=0.1),
        normalisation=NormConfig(mode="scale", scale=1 / 255), augment=None,
    )
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert TrainConfig.from_dict(TrainConfig().to_dict()) == TrainConfig()


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(patch=(20, 64, 64)),  # not a multiple of the stride product 8
        dict(patch=(64, 64)),  # 2 sizes for 3D
        dict(spatial_dims=2, patch=(64, 64)),  # net is 3D
        dict(loss="focal"),
        dict(batch_size=0),
        dict(max_iterations=0),
        dict(lr=0.0),
        dict(pos_fraction=-0.1),
        dict(seed=-1),
        dict(context_slices=3),  # 3D net has 1 input channel
    ],
)
def test_bad_train_config(kwargs):
    with pytest.raises(ValueError):
        TrainConfig(**kwargs)


def test_train_needs_items():
    with pytest.raises(ValueError):
        train(_cfg3d(), [], device=CPU)


def test_mean_dice():
    a = np.array([0, 1, 1, 0])
    assert mean_dice(a, a, 2) == 1.0
    assert mean_dice(np.zeros(4), np.zeros(4), 2) == 1.0
    assert mean_dice(a, np.array([0, 1, 0, 0]), 2) == pytest.approx(2 / 3)


def _lidc_item(folder: Path) -> TrainItem:
    def zyx(p: Path) -> np.ndarray:
        return np.asarray(nib.load(p).dataobj).transpose(2, 1, 0)

    image = zyx(folder / "image.nii.gz")
    raters = [zyx(p) for p in sorted(folder.glob("rater-*.nii.gz"))]
    majority = (np.sum(raters, axis=0) * 2 > len(raters)).astype(np.uint8)
    return TrainItem(ArrayReader(np.ascontiguousarray(image)), ArrayReader(np.ascontiguousarray(majority)))


@pytest.mark.realdata
def test_train_2d_on_lidc_cases():
    lidc = shared_data("lidc")
    import csv

    with open(lidc / "manifest.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["raters_nonempty"] == "4" and int(r["n_slices"]) >= 3]
    items = [_lidc_item(lidc / r["case_id"]) for r in rows[:4]]
    assert all(it.image.shape[1:] == (128, 128) for it in items)
    assert all(it.label.read((slice(0, it.label.shape[0]), slice(0, 128), slice(0, 128))).any() for it in items)
    cfg = TrainConfig(
        spatial_dims=2, patch=(64, 64), context_slices=1, batch_size=4, samples_per_item=4, max_epochs=6,
        lr=1e-2, pos_fraction=0.8, net=TINY_NET_2D, normalisation=NormConfig(mode="scale", scale=1 / 255),
        augment=AugmentConfig(),
    )
    result = train(cfg, items[:3], items[3:], device=CPU, progress=None)
    assert len(result.history) == 6 and result.iterations == 6 * 3
    assert np.mean(result.losses[-2:]) < np.mean(result.losses[:2])
    assert 0.0 <= result.best_val_dice <= 1.0
