from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from core.errors import Conflict, IntegrityError, InvalidInput, NotFound
from core.storage import Layout, create_volume, open_volume

from .conftest import SMALL_LAYOUT, make_array, make_geometry

SHAPE = (12, 40, 48)


def make_mask(shape: tuple[int, int, int] = SHAPE, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random(shape) < 0.2).astype(np.uint8) * rng.integers(1, 4, size=shape).astype(np.uint8)


@pytest.fixture
def volume(any_url):
    create_volume(any_url, make_array(SHAPE), make_geometry(), layout=SMALL_LAYOUT)
    return open_volume(any_url, "r+")


def test_create_read_and_zeros(volume):
    m = make_mask()
    lab = volume.create_label("rater_1", m, colors={1: (255, 0, 0), 2: (0, 255, 0, 128)}, source_version="pred-7")
    np.testing.assert_array_equal(lab.read(), m)
    np.testing.assert_array_equal(volume.open_label("rater_1").read(region=(slice(2, 5), slice(0, 3), slice(40, 48))), m[2:5, :3, 40:])
    z = volume.create_label("empty")
    assert z.read().dtype == np.uint8 and not z.read().any()
    assert volume.label_names() == ["empty", "rater_1"]  # sorted group names
    attrs = lab.attrs
    assert attrs["concord"]["source_version"] == "pred-7"
    assert attrs["ome"]["image-label"]["colors"][1] == {"label-value": 2, "rgba": [0, 255, 0, 128]}


@pytest.mark.parametrize("name", ["", "../x", "a/b", "a b", "é", "x" * 200])
def test_label_name_validated(volume, name):
    with pytest.raises(InvalidInput):
        volume.create_label(name)


def test_create_label_rejects_bad_input(volume):
    with pytest.raises(InvalidInput):
        volume.create_label("a", np.zeros((1, 2, 3), np.uint8))
    with pytest.raises(InvalidInput):
        volume.create_label("b", np.full(SHAPE, 300, np.int32))
    with pytest.raises(InvalidInput):
        volume.create_label("c", colors={1: (300, 0, 0)})
    volume.create_label("d")
    with pytest.raises(Conflict):
        volume.create_label("d")


def test_read_only_volume_refuses_label_writes(volume):
    volume.create_label("draft")
    ro = open_volume(volume.url)
    with pytest.raises(InvalidInput):
        ro.create_label("x")
    with pytest.raises(InvalidInput):
        ro.open_label("draft").write_region((slice(0, 1), slice(0, 1), slice(0, 1)), np.ones((1, 1, 1), np.uint8))


def _chunk_mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in (root / "c").rglob("*") if p.is_file()}


def test_write_region_touches_only_its_chunks(tmp_path):
    url = str(tmp_path / "v.zarr")
    create_volume(url, make_array(SHAPE), make_geometry(), layout=SMALL_LAYOUT)
    vol = open_volume(url, "r+")
    m = make_mask()
    lab = vol.create_label("draft", m, layout=Layout((4, 16, 16)))
    arr_dir = Path(url) / "labels" / "draft" / "0"
    before = _chunk_mtimes(arr_dir)
    assert len(before) == 3 * 3 * 3
    ref = m.copy()
    region = (slice(5, 6), slice(10, 20), slice(0, 8))  # z chunk 1, y chunks 0-1, x chunk 0
    patch = np.full((1, 10, 8), 7, np.uint8)
    os.sync()
    lab.write_region(region, patch)
    ref[region] = patch
    after = _chunk_mtimes(arr_dir)
    changed = {k for k in after if after[k] != before.get(k)}
    assert set(after) == set(before)
    assert changed == {"c/1/0/0", "c/1/1/0"}
    np.testing.assert_array_equal(lab.read(), ref)
    np.testing.assert_array_equal(vol.open_label("draft").read(), ref)


@pytest.mark.parametrize(
    "region",
    [(slice(0, 12), slice(0, 40), slice(0, 48)), (slice(11, 12), slice(None), slice(None)),
     (slice(None), slice(3, 4), slice(None)), (slice(None), slice(None), slice(47, 48)), (slice(3, 9), slice(7, 33), slice(1, 2))],
)
def test_write_region_matches_numpy(volume, region):
    m = make_mask()
    lab = volume.create_label("draft", m)
    ref = m.copy()
    patch = make_mask(seed=5)[region]
    lab.write_region(region, patch.astype(np.int64))  # integer data is cast to uint8
    ref[region] = patch
    np.testing.assert_array_equal(lab.read(), ref)


def test_write_region_rejects_wrong_shape(volume):
    lab = volume.create_label("draft")
    with pytest.raises(InvalidInput):
        lab.write_region((slice(0, 2), slice(0, 2), slice(0, 2)), np.zeros((2, 2), np.uint8))
    with pytest.raises(InvalidInput):
        lab.write_region((slice(0, 1), slice(0, 1), slice(0, 1)), np.full((1, 1, 1), -1))


def test_copy_to_identical_checksum_and_delete(volume):
    m = make_mask()
    draft = volume.create_label("draft", m)
    draft.write_region((slice(0, 1), slice(0, 40), slice(0, 48)), np.ones((1, 40, 48), np.uint8))
    version = draft.copy_to("v1")
    assert version.checksum() == draft.checksum()
    assert version.attrs["concord"]["sha256"] == draft.checksum()
    assert version.attrs["concord"]["copied_from"] == "draft"
    assert volume.label_names() == ["draft", "v1"]
    with pytest.raises(Conflict):
        draft.copy_to("v1")
    draft.write_region((slice(0, 1), slice(0, 1), slice(0, 1)), np.full((1, 1, 1), 9, np.uint8))
    assert version.checksum() != draft.checksum()  # the version does not follow the draft
    volume.delete_label("draft")
    assert volume.label_names() == ["v1"]
    with pytest.raises(NotFound):
        volume.open_label("draft")
    with pytest.raises(NotFound):
        volume.delete_label("draft")
    np.testing.assert_array_equal(open_volume(volume.url).open_label("v1").read()[1:], m[1:])


def test_corrupt_label_chunk_raises(tmp_path):
    url = str(tmp_path / "v.zarr")
    create_volume(url, make_array(SHAPE), make_geometry())
    vol = open_volume(url, "r+")
    vol.create_label("draft", make_mask() + 1)
    chunk = Path(url) / "labels" / "draft" / "0" / "c" / "3" / "0" / "0"
    data = bytearray(chunk.read_bytes())
    data[5] ^= 0x01
    chunk.write_bytes(bytes(data))
    lab = vol.open_label("draft")
    with pytest.raises(IntegrityError, match="v.zarr"):
        lab.read()
    with pytest.raises(IntegrityError):
        lab.checksum()


def test_ome_zarr_reader_sees_labels(tmp_path):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Label, Reader

    url = str(tmp_path / "v.zarr")
    create_volume(url, make_array(SHAPE), make_geometry())
    m = make_mask()
    open_volume(url, "r+").create_label("rater_1", m, colors={1: (255, 0, 0)})
    nodes = list(Reader(parse_url(url + "/labels/rater_1"))())
    label = next(n for n in nodes if n.load(Label))
    np.testing.assert_array_equal(np.asarray(label.data[0]), m)
    assert label.metadata["color"][1] == [1.0, 0.0, 0.0, 1.0]


@pytest.mark.parametrize("layout", [None, Layout((4, 16, 16)), Layout((4, 16, 16), None, "blosc-lz4", 5)])
def test_written_chunks_read_back_by_zarr(tmp_path, layout):
    import zarr

    url = str(tmp_path / "v.zarr")
    create_volume(url, make_array(SHAPE), make_geometry())
    lab = open_volume(url, "r+").create_label("draft", layout=layout)  # no chunks stored yet
    ref = np.zeros(SHAPE, np.uint8)
    for region, value in [((slice(2, 3), slice(0, 40), slice(0, 48)), 3), ((slice(0, 12), slice(5, 6), slice(9, 30)), 4),
                          ((slice(2, 3), slice(0, 40), slice(0, 48)), 0)]:
        patch = np.full(tuple(s.stop - s.start for s in region), value, np.uint8)
        lab.write_region(region, patch)
        ref[region] = patch
    np.testing.assert_array_equal(zarr.open_array(url + "/labels/draft/0", mode="r")[:], ref)
    np.testing.assert_array_equal(lab.read(), ref)
    assert not list((tmp_path / "v.zarr" / "labels" / "draft" / "0").rglob("*.tmp"))
