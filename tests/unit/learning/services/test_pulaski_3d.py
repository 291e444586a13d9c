"""PULASki in 3D: the same standard-normal draws in every part of a large block; the patch must fit the net."""

from __future__ import annotations

import numpy as np
import pytest


def test_3d_sampling_one_latent_per_sample_across_blocks(monkeypatch) -> None:
    """A 3D net samples the slab of the requested slices as one block; cut into parts (a small block
    limit), every part starts from the same standard-normal draws (each part's prior scales them)."""
    import torch

    from learning.nets import prob_unet
    from learning.nets.prob_unet import ProbUNetConfig, build_prob_unet
    from learning.services import pulaski

    torch.manual_seed(0)
    cfg = ProbUNetConfig(spatial_dims=3, channels=(4, 8), strides=(2,), features=4, output_prior=0.5)
    model = build_prob_unet(cfg).eval()
    config = {"normalisation": {"mode": "scale", "scale": 1.0}}
    image = np.random.default_rng(0).random((9, 10, 12)).astype(np.float32)
    zs = np.array([0, 1, 2, 3])  # a slab of 4 slices, padded to the divisor
    whole = pulaski.case_samples(image, model, config, zs=zs, device=torch.device("cpu"), n=3)
    assert whole.shape == (3, 4, 10, 12) and 0 <= whole.min() and whole.max() <= 1
    assert not np.allclose(whole[0], whole[1]), "samples differ"
    zs = np.arange(9)
    whole = pulaski.case_samples(image, model, config, zs=zs, device=torch.device("cpu"), n=3)
    states = []
    real = prob_unet.sample

    def spy(model, x, n, *, generator=None, **kw):  # noqa: ANN001, ANN202
        states.append(generator.get_state().clone())
        return real(model, x, n, generator=generator, **kw)

    monkeypatch.setattr(prob_unet, "sample", spy)  # what sample_volume calls per part
    monkeypatch.setattr(pulaski, "MAX_BLOCK_VOXELS", 2 * 10 * 12)
    parts = pulaski.case_samples(image, model, config, zs=zs, device=torch.device("cpu"), n=3)
    assert parts.shape == whole.shape == (3, 9, 10, 12)
    assert len(states) == 5 and all(torch.equal(s, states[0]) for s in states)  # 9 -> 10 slices, parts of 2


@pytest.mark.parametrize("patch,match", [([16, 62, 64], "multiples of 4"), ([16, 64], "3 positive")])
def test_3d_patch_must_fit_the_net(patch, match) -> None:
    from core.errors import InvalidInput
    from learning.services.pulaski import _train_config

    net = {"spatial_dims": 3, "channels": [4, 8, 16], "strides": [2, 2]}
    with pytest.raises(InvalidInput, match=match):
        _train_config({"net": net, "patch": patch}, seed=0)
    with pytest.raises(InvalidInput, match="for a 3D net"):
        _train_config({"patch": [16, 64, 64]}, seed=0)
    assert _train_config({"net": net}, seed=0)[1] == (16, 64, 64)
