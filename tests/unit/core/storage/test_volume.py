from __future__ import annotations

import json
import os
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import zarr

from core.errors import Conflict, IntegrityError, InvalidInput, NotFound
from core.geometry import Geometry
from core.storage import Layout, create_volume, delete_volume, new_volume_url, open_volume
from core.storage.pyramid import downsample_mean, plan_factors

from .conftest import SMALL_LAYOUT, make_array, make_geometry


def test_round_trip_voxels_geometry_and_attrs(any_url):
    a = make_array()
    g = make_geometry()
    v = create_volume(any_url, a, g, extra_attrs={"source": "unit"}, layout=SMALL_LAYOUT)
    r = open_volume(any_url)
    np.testing.assert_array_equal(r.read(), a)
    np.testing.assert_array_equal(r.read(verify=True), a)
    assert r.geometry == g
    assert r.dtype == np.int16 and r.shape() == a.shape
    assert r.checksum == v.checksum and len(r.checksum) == 64
    assert r.attrs["concord"]["source"] == "unit"
    assert r.chunk_shape(0) == (8, 16, 16)
    assert r.url == any_url
    r.verify()


def test_default_layout_and_float_and_dask_input(local_url):
    a = make_array((40, 70, 90), dtype="float32")
    v = create_volume(local_url, da.from_array(a, chunks=(7, 70, 90)), Geometry((1.0, 1.0, 1.0)))
    np.testing.assert_array_equal(v.read(), a)
    v.verify()


@pytest.mark.parametrize(
    ("spacing", "shape", "expected"),
    [
        ((1.0, 1.0, 1.0), (128, 128, 128), [(1, 1, 1), (2, 2, 2), (4, 4, 4)]),
        ((0.7, 0.7, 5.0), (40, 256, 256), [(1, 1, 1), (1, 2, 2), (1, 4, 4), (1, 8, 8)]),
        ((0.5, 0.5, 1.0), (128, 128, 128), [(1, 1, 1), (1, 2, 2), (2, 4, 4)]),
        ((1.0, 1.0, 1.0), (20, 40, 40), [(1, 1, 1)]),
    ],
)
def test_plan_factors(spacing, shape, expected):
    g = Geometry(spacing)
    assert plan_factors(shape, g.spacing_zyx) == expected


def test_pyramid_shapes_values_and_ngff_scales(local_url):
    a = make_array((33, 130, 70))
    v = create_volume(local_url, a, Geometry((0.5, 0.5, 1.0)), layout=SMALL_LAYOUT)
    assert v.levels == 2
    assert [v.shape(i) for i in range(v.levels)] == [(33, 130, 70), (33, 65, 35)]
    np.testing.assert_array_equal(v.read(1), downsample_mean(a, (1, 2, 2)))
    scales = [d["coordinateTransformations"][0]["scale"] for d in v.attrs["ome"]["multiscales"][0]["datasets"]]
    assert scales == [[1.0, 0.5, 0.5], [1.0, 1.0, 1.0]]
    assert create_volume(local_url + "2", a, Geometry((0.5, 0.5, 1.0)), levels=1).levels == 1


def test_downsample_mean_rounds_and_pads():
    a = np.array([[[0, 1, 2]]], dtype=np.int16).repeat(2, axis=1)  # (1, 2, 3)
    out = downsample_mean(a, (1, 2, 2))
    assert out.shape == (1, 1, 2) and out.dtype == np.int16
    np.testing.assert_array_equal(out, [[[0, 2]]])  # mean(0,1)=0.5 -> rint 0; edge pad (2,2) -> 2


REGIONS = [
    (slice(0, 20), slice(0, 40), slice(0, 48)),
    (slice(3, 4), slice(5, 39), slice(17, 18)),
    (slice(7, 9), slice(15, 17), slice(31, 33)),  # straddles chunk corners
    (slice(None, 5), slice(-10, None), slice(8, -8)),
    (slice(19, 20), slice(39, 40), slice(47, 48)),
]


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("layout", [SMALL_LAYOUT, Layout((8, 16, 16), (16, 32, 32)), Layout((4, 8, 8), None, "blosc-lz4", 5)])
def test_region_reads_equal_numpy(tmp_path, region, layout):
    a = make_array()
    v = create_volume(str(tmp_path / "v.zarr"), a, make_geometry(), layout=layout)
    np.testing.assert_array_equal(v.read(region=region), a[region])


@pytest.mark.parametrize("region", [(slice(0, 2),), (slice(0, 2), slice(0, 2), 3), (slice(0, 30), slice(None), slice(None)),
                                    (slice(5, 5), slice(None), slice(None)), (slice(0, 4, 2), slice(None), slice(None))])
def test_bad_region_is_invalid_input(local_url, region):
    v = create_volume(local_url, make_array(), make_geometry(), layout=SMALL_LAYOUT)
    with pytest.raises(InvalidInput):
        v.read(region=region)


def test_slices_in_three_orientations(any_url):
    a = make_array()
    v = create_volume(any_url, a, make_geometry(), layout=SMALL_LAYOUT)
    np.testing.assert_array_equal(v.read_slice("axial", 11), a[11])
    np.testing.assert_array_equal(v.read_slice("coronal", 39), a[:, 39])
    np.testing.assert_array_equal(v.read_slice("sagittal", 0), a[:, :, 0])
    with pytest.raises(InvalidInput):
        v.read_slice("sagittal", 48)
    with pytest.raises(InvalidInput):
        v.read_slice("oblique", 0)


def test_checksum_mismatch_raises(local_url):
    a = make_array()
    create_volume(local_url, a, make_geometry(), layout=SMALL_LAYOUT)
    group = zarr.open_group(local_url, mode="r+")
    concord = dict(group.attrs["concord"])
    concord["sha256"] = "0" * 64
    group.attrs["concord"] = concord
    v = open_volume(local_url)
    with pytest.raises(IntegrityError, match="checksum mismatch"):
        v.verify()
    with pytest.raises(IntegrityError):
        v.read(verify=True)
    with pytest.raises(InvalidInput):
        v.read(region=REGIONS[1], verify=True)


def _flip_byte(path: Path, offset: int = 10) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(("layout", "bad_z"), [(SMALL_LAYOUT, 9), (Layout((8, 16, 16), (16, 32, 32)), 17)])
def test_corrupt_chunk_raises_integrity_error_naming_url(local_url, layout, bad_z):
    a = make_array()
    create_volume(local_url, a, make_geometry(), layout=layout)
    _flip_byte(Path(local_url) / "0" / "c" / "1" / "0" / "1")
    v = open_volume(local_url)
    np.testing.assert_array_equal(v.read_slice("axial", 0), a[0])  # untouched chunks still read
    with pytest.raises(IntegrityError, match="vol.zarr"):
        v.read_slice("axial", bad_z)
    with pytest.raises(IntegrityError):
        v.verify()


def test_incomplete_group_and_missing_volume(local_url, tmp_path):
    group = zarr.create_group(local_url)
    group.create_array("0", shape=(4, 4, 4), dtype="int16")
    with pytest.raises(IntegrityError, match="incomplete volume"):
        open_volume(local_url)
    with pytest.raises(NotFound):
        open_volume(str(tmp_path / "nothing.zarr"))


def test_create_refuses_existing_url_and_bad_input(local_url):
    create_volume(local_url, make_array(), make_geometry())
    with pytest.raises(Conflict):
        create_volume(local_url, make_array(), make_geometry())
    with pytest.raises(InvalidInput):
        create_volume(local_url + "x", np.zeros((4, 4)), make_geometry())
    with pytest.raises(InvalidInput):
        create_volume(local_url + "y", make_array(), make_geometry(), extra_attrs={"sha256": "x"})


@pytest.mark.parametrize("key", ["../x", "/etc/passwd", "0/../../secret", "", "a//b", "./zarr.json", "..", "C:\\x", "s3://b/k"])
def test_get_key_rejects_traversal(local_url, key):
    v = create_volume(local_url, make_array(), make_geometry(), layout=SMALL_LAYOUT)
    with pytest.raises(InvalidInput):
        v.get_key(key)


def test_get_key_serves_raw_bytes(any_url):
    v = create_volume(any_url, make_array(), make_geometry(), layout=SMALL_LAYOUT)
    meta = json.loads(v.get_key("zarr.json"))
    assert meta["node_type"] == "group" and "concord" in meta["attributes"]
    arr_meta = json.loads(v.get_key("0/zarr.json"))
    assert [c["name"] for c in arr_meta["codecs"]][-1] == "crc32c"
    assert len(v.get_key("0/c/0/1/2")) > 4
    assert v.get_key("0/c/99/0/0") is None
    if "://" not in any_url:
        assert v.get_key("0/c/0/1/2") == (Path(any_url) / "0/c/0/1/2").read_bytes()


def test_delete_volume_and_new_url(any_url):
    create_volume(any_url, make_array(), make_geometry())
    delete_volume(any_url)
    with pytest.raises(NotFound):
        open_volume(any_url)
    delete_volume(any_url)  # idempotent
    u = new_volume_url("s3://bucket/root/", "cases")
    assert u.startswith("s3://bucket/root/cases/") and u.endswith(".zarr") and len(u.rsplit("/", 1)[1]) == 37
    assert new_volume_url("/var/zarr") != new_volume_url("/var/zarr")


def test_file_url_is_local(tmp_path):
    url = "file://" + str(tmp_path / "f.zarr")
    a = make_array()
    create_volume(url, a, make_geometry())
    assert os.path.isdir(tmp_path / "f.zarr" / "0")
    np.testing.assert_array_equal(open_volume(url).read(), a)


def test_ome_zarr_reader_sees_pyramid(local_url):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Multiscales, Reader

    a = make_array((33, 130, 70))
    create_volume(local_url, a, Geometry((0.5, 0.5, 1.0)), layout=SMALL_LAYOUT)
    nodes = list(Reader(parse_url(local_url))())
    image = next(n for n in nodes if n.load(Multiscales))
    assert [tuple(d.shape) for d in image.data] == [(33, 130, 70), (33, 65, 35)]
    assert [ax["name"] for ax in image.metadata["axes"]] == ["z", "y", "x"]
    np.testing.assert_array_equal(np.asarray(image.data[0]), a)


def test_package_imports_no_django():
    import subprocess
    import sys

    code = "import sys, core.storage; sys.exit('django' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[4]).returncode == 0


class _FailingArray:
    """Array-like whose third slab read fails, as a broken DICOM series would mid-ingest."""

    def __init__(self, a: np.ndarray) -> None:
        self._a, self.shape, self.dtype, self.calls = a, a.shape, a.dtype, 0

    def __getitem__(self, sel):
        self.calls += 1
        if self.calls == 3:
            raise OSError("read failed")
        return self._a[sel]


def test_failed_create_leaves_nothing(local_url, monkeypatch):
    import core.storage.volume as volume_mod

    monkeypatch.setattr(volume_mod, "_SLAB_VOXELS", 8 * 40 * 48)
    with pytest.raises(OSError):
        create_volume(local_url, _FailingArray(make_array()), make_geometry(), layout=SMALL_LAYOUT)
    assert not Path(local_url).exists()


def test_missing_level_array_is_integrity_error(local_url):
    import shutil

    create_volume(local_url, make_array((20, 80, 80)), Geometry((1.0, 1.0, 1.0)), layout=SMALL_LAYOUT)
    shutil.rmtree(Path(local_url) / "1")
    v = open_volume(local_url)
    with pytest.raises(IntegrityError, match="level 1"):
        v.read(1)
