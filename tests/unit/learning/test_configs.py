"""A project's train_config is checked, without torch, as each kind's training would build it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from core.errors import InvalidInput
from learning.configs import check_train_config, default_train_config, pulaski_settings, segmenter_config


def test_defaults_follow_the_volumes() -> None:
    thin = default_train_config([(5, 64, 64), (7, 70, 70)], "uint8")
    assert thin.spatial_dims == 2 and thin.patch == (64, 64) and thin.normalisation.mode == "scale"
    ct = default_train_config([(200, 512, 512)], "int16")
    assert ct.spatial_dims == 3 and ct.patch == (32, 96, 96) and ct.normalisation.mode == "window"
    small = default_train_config([(40, 48, 48)], "float32")
    assert small.patch == (32, 48, 48) and small.normalisation.mode == "zscore"
    assert default_train_config([], "float32").spatial_dims == 3  # no volume yet


def test_overrides_merge_into_the_default() -> None:
    cfg = segmenter_config([(5, 64, 64)], "uint8", {"max_epochs": 3, "net": {"channels": [4, 8, 16, 32]},
                                                      "pulaski": {"iterations": 9}})
    assert cfg.max_epochs == 3 and cfg.net.channels == (4, 8, 16, 32) and cfg.net.spatial_dims == 2
    assert pulaski_settings({"iterations": 9}, seed=4)[0].iterations == 9
    assert pulaski_settings({"warmup_iterations": 300}, seed=4)[0].warmup_iterations == 300


@pytest.mark.parametrize("overrides,message", [
    ({"patch": [32, 96]}, "patch"),  # a 2D patch for 3D volumes
    ({"lr": -1}, "lr must be > 0"),
    ({"epochs": 3}, "unknown setting(s) epochs"),
    ({"normalisation": {"mode": "hu"}}, "normalisation mode"),
    ({"pulaski": {"net": {"latent_dim": 0}}}, "train_config.pulaski: latent_dim"),
    ({"pulaski": {"patch": [16, 64, 64]}}, "for a 3D net"),
    ({"pulaski": {"warmup_iterations": 1500}}, "train_config.pulaski: warmup_iterations must be in"),
    ({"shape_dae": {"lr": 0}}, "lr > 0"),
    ({"shape_dae": {"net": {"channels": []}}}, "train_config.shape_dae"),
    ("fast", "must be an object"),
])
def test_bad_settings_are_refused_by_name(overrides, message) -> None:
    with pytest.raises(InvalidInput) as e:
        check_train_config(overrides, shapes=[(120, 256, 256)], dtype="int16")
    assert message in str(e.value)


def test_checking_loads_no_torch() -> None:
    """The web process checks train_config; it must not load torch or MONAI to do it."""
    code = ("import sys; from learning.configs import check_train_config; "
            "check_train_config({'pulaski': {'net': {'spatial_dims': 3}}}, shapes=[(64, 64, 64)], dtype='int16'); "
            "print(sorted(m for m in ('torch', 'monai') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_voxel_dtype_is_the_most_common() -> None:
    """Training and the policy check build the default config for one dtype, chosen by one rule."""
    from learning.configs import voxel_dtype

    assert voxel_dtype(["int16", "float32", "int16"]) == "int16"
    assert voxel_dtype(["uint8", "float32"]) == "float32"   # a tie goes to the first by name
    assert voxel_dtype([]) == "float32"
    assert default_train_config([(5, 64, 64)], voxel_dtype(["int16", "int16", "uint8"])).normalisation.mode == "window"
