from __future__ import annotations

import numpy as np
import pytest
import zarr

from learning.data import (
    ArrayReader,
    AugmentConfig,
    ForegroundIndex,
    NormConfig,
    PatchDataset,
    TrainItem,
    build_augmentation,
    foreground_index,
    make_loader,
    normalise,
    volume_stats,
)
from learning.data.readers import full_region
from tests.unit.learning.conftest import CountingReader, make_blob_volume


def _counting_items(n=2, shape=(24, 40, 36)):
    items = []
    for i in range(n):
        image, mask = make_blob_volume(shape, seed=i)
        fg = foreground_index(ArrayReader(mask), rng=np.random.default_rng(i))
        items.append(TrainItem(CountingReader(image), CountingReader(mask), foreground=fg))
    return items


def _region_shape(region):
    return tuple(s.stop - s.start for s in region)


def test_loader_reads_only_patch_regions():
    items = _counting_items()
    ds = PatchDataset(items, patch=(8, 16, 16), samples_per_item=10, pos_fraction=0.5, rng_seed=1)
    batches = list(make_loader(ds, batch_size=4, num_workers=0, seed=1))
    assert sum(len(b["image"]) for b in batches) == len(ds) == 20
    assert batches[0]["image"].shape == (4, 1, 8, 16, 16)
    assert batches[0]["label"].shape == (4, 1, 8, 16, 16)
    for it in items:
        for reader in (it.image, it.label):
            assert reader.regions, "every item is read"
            whole = full_region(reader.shape)
            assert all(r != whole for r in reader.regions)
            assert all(_region_shape(r) == (8, 16, 16) for r in reader.regions)


def test_foreground_scan_reads_slabs_not_volume():
    _, mask = make_blob_volume((24, 32, 32), seed=0)
    reader = CountingReader(mask)
    fg = foreground_index(reader, rng=np.random.default_rng(0), slab=8, max_points=50)
    assert [_region_shape(r) for r in reader.regions] == [(8, 32, 32)] * 3
    assert fg.count == int(mask.sum()) and len(fg.coords) == 50
    assert all(mask[tuple(c)] for c in fg.coords)
    lo = [s.start for s in fg.bbox]
    assert lo == [int(a.min()) for a in np.nonzero(mask)]


@pytest.mark.parametrize("pos_fraction", [0.0, 0.3, 1.0])
def test_positive_fraction_respected(pos_fraction):
    items = _counting_items(1)
    ds = PatchDataset(items, patch=(8, 8, 8), samples_per_item=400, pos_fraction=pos_fraction, rng_seed=0)
    plans = [ds.plan(i) for i in range(len(ds))]
    frac = np.mean([p.positive for p in plans])
    assert abs(frac - pos_fraction) < 0.07
    for i in range(0, 400, 40):
        if ds.plan(i).positive:
            assert ds[i]["label"].sum() > 0, "a positive patch contains its foreground centre"


def test_box_only_foreground_index():
    bbox = (slice(2, 4), slice(10, 12), slice(5, 9))
    fg = ForegroundIndex.from_bbox(bbox)
    rng = np.random.default_rng(0)
    for _ in range(20):
        z, y, x = fg.sample(rng)
        assert 2 <= z < 4 and 10 <= y < 12 and 5 <= x < 9


def test_dataset_is_deterministic_and_epochs_differ():
    image, mask = make_blob_volume(seed=0)
    aug = build_augmentation(AugmentConfig(noise_prob=1.0), patch=(8, 16, 16))
    ds = PatchDataset([TrainItem(ArrayReader(image), ArrayReader(mask))], patch=(8, 16, 16), rng_seed=5, transforms=aug)
    a, b = ds[2], ds[2]
    assert np.array_equal(a["image"], b["image"])
    assert not np.array_equal(ds[2]["image"], ds[2 + len(ds)]["image"]), "a new epoch draws new patches"
    la = make_loader(ds, batch_size=2, seed=0)
    lb = make_loader(ds, batch_size=2, seed=0)
    for x, y in zip(la, lb):
        assert np.array_equal(x["image"], y["image"])


def test_2d_context_mode_pads_thin_stacks():
    image, mask = make_blob_volume((2, 20, 24), seed=0, radius=3)
    ds = PatchDataset(
        [TrainItem(ArrayReader(image), ArrayReader(mask))], patch=(32, 32), context_slices=3, samples_per_item=6
    )
    s = ds[0]
    assert s["image"].shape == (3, 32, 32) and s["label"].shape == (1, 32, 32)
    p = ds.plan(0)
    assert p.label_region[0].stop - p.label_region[0].start == 1


def test_zarr_store_reads_match_numpy(tmp_path):
    image, mask = make_blob_volume((16, 32, 32), seed=2)
    zi = zarr.create_array(tmp_path / "img.zarr", shape=image.shape, chunks=(8, 16, 16), dtype="float32")
    zi[:] = image
    zm = zarr.create_array(tmp_path / "lab.zarr", shape=mask.shape, chunks=(8, 16, 16), dtype="uint8")
    zm[:] = mask
    kw = dict(patch=(8, 16, 16), samples_per_item=5, rng_seed=3)
    a = PatchDataset([TrainItem(ArrayReader(zi), ArrayReader(zm))], **kw)
    b = PatchDataset([TrainItem(ArrayReader(image), ArrayReader(mask))], **kw)
    for i in range(5):
        assert np.array_equal(a[i]["image"], b[i]["image"])
        assert np.array_equal(a[i]["label"], b[i]["label"])


def test_normalisation_modes():
    x = np.array([-2000.0, -1000.0, -300.0, 400.0, 3000.0])
    w = normalise(x, NormConfig(mode="window", window=(-1000, 400)))
    assert w.dtype == np.float32 and w.min() == 0 and w.max() == 1 and np.isclose(w[2], 0.5)
    z = normalise(x, NormConfig(mode="zscore"))
    assert abs(z.mean()) < 1e-5 and abs(z.std() - 1) < 1e-4
    s = normalise(np.array([0, 255], np.uint8), NormConfig(mode="scale", scale=1 / 255))
    assert np.allclose(s, [0, 1])
    v = np.random.default_rng(0).normal(3, 2, (10, 8, 8))
    mean, std = volume_stats(ArrayReader(v), slab=3)
    assert np.isclose(mean, v.mean()) and np.isclose(std, v.std())


@pytest.mark.parametrize(
    "kwargs",
    [dict(mode="hu"), dict(mode="window", window=(10, 0)), dict(mode="zscore", std=0.0)],
)
def test_bad_norm_config(kwargs):
    with pytest.raises(ValueError):
        NormConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [dict(patch=(8, 8, 8, 8)), dict(samples_per_item=0), dict(pos_fraction=1.5), dict(context_slices=2, patch=(8, 8))],
)
def test_bad_dataset_args(kwargs):
    image, mask = make_blob_volume(seed=0)
    args = dict(patch=(8, 8, 8)) | kwargs
    with pytest.raises(ValueError):
        PatchDataset([TrainItem(ArrayReader(image), ArrayReader(mask))], **args)


def test_worker_processes_give_the_same_batches():
    image, mask = make_blob_volume(seed=0)
    ds = PatchDataset([TrainItem(ArrayReader(image), ArrayReader(mask))], patch=(8, 16, 16), samples_per_item=4)
    serial = [b["image"] for _ in range(2) for b in make_loader(ds, batch_size=2, seed=0, num_workers=0)]
    loader = make_loader(ds, batch_size=2, seed=0, num_workers=1)
    parallel = [b["image"] for _ in range(2) for b in loader]
    assert len(serial) == len(parallel) == 4
    # two passes over one loader = two epochs; equal to two fresh serial loaders only in the first epoch
    assert all(np.array_equal(a, b) for a, b in zip(serial[:2], parallel[:2]))
    assert not np.array_equal(parallel[0], parallel[2]), "the second epoch draws new patches"
