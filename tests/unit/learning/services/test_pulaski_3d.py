"""PULASki in 3D: one latent per sample across the parts of a large block; the patch must fit the net."""

from __future__ import annotations

import numpy as np
import pytest


def test_3d_sampling_one_latent_per_sample_across_blocks(monkeypatch) -> None:
    """A 3D net samples the slab of the requested slices as one block; cut into parts (a small block
    limit), every part decodes with the same latents, drawn once from the whole volume's prior."""
    import torch

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
    latents = []
    real = model.decode_many

    def spy(feats, z):  # noqa: ANN001, ANN202
        latents.append(z.clone())
        return real(feats, z)

    monkeypatch.setattr(model, "decode_many", spy)
    monkeypatch.setattr(pulaski, "MAX_BLOCK_VOXELS", 2 * 12 * 12)
    parts = pulaski.case_samples(image, model, config, zs=zs, device=torch.device("cpu"), n=3)
    assert parts.shape == whole.shape == (3, 9, 10, 12)
    assert len(latents) == 5 and all(torch.equal(z, latents[0]) for z in latents)  # 9 -> 10 slices, parts of 2
    # the latents are the whole volume's prior scaling the seed's standard-normal draws
    padded = np.pad(image, [(0, 1), (0, 0), (0, 0)], constant_values=float(image.min()))
    with torch.inference_mode():
        prior = model.prior(torch.from_numpy(padded)[None, None])
    eps = torch.randn((3, 1, cfg.latent_dim), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(latents[0], prior.base_dist.loc + prior.base_dist.scale * eps, rtol=1e-5, atol=1e-6)
    # a part's features are computed with a halo: a block cut in parts stays close to the whole block
    # (mean difference 0.0009 here; 0.002 without the halo)
    assert np.abs(parts - whole).mean() < 0.0015


def test_prior_in_parts_is_the_whole_volumes_prior() -> None:
    """The prior encoder has no normalisation: computed in z-parts with a halo it equals one pass."""
    import torch

    from learning.nets.prob_unet import ProbUNetConfig, _prior_in_parts, build_prob_unet

    torch.manual_seed(1)
    model = build_prob_unet(ProbUNetConfig(spatial_dims=3, channels=(4, 8, 8), strides=(2, 2), features=4)).eval()
    torch.nn.init.normal_(model.prior_net.head.weight, std=0.5)  # a head that is not ~0
    x = np.random.default_rng(1).normal(size=(24, 8, 12)).astype(np.float32)
    with torch.inference_mode():
        whole = model.prior(torch.from_numpy(x)[None, None])
        for depth in (4, 8, 12):
            parts = _prior_in_parts(model, x, depth, torch.device("cpu"))
            torch.testing.assert_close(parts.base_dist.loc, whole.base_dist.loc, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(parts.base_dist.scale, whole.base_dist.scale, rtol=1e-4, atol=1e-5)
        cut = x[:12]  # and a prior of a part alone is not the whole's: the test can fail
        assert not torch.allclose(model.prior(torch.from_numpy(cut)[None, None]).base_dist.loc, whole.base_dist.loc,
                                  rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("patch,match", [([16, 62, 64], "multiples of 4"), ([16, 64], "3 positive")])
def test_3d_patch_must_fit_the_net(patch, match) -> None:
    from core.errors import InvalidInput
    from learning.configs import pulaski_settings

    net = {"spatial_dims": 3, "channels": [4, 8, 16], "strides": [2, 2]}
    with pytest.raises(InvalidInput, match=match):
        pulaski_settings({"net": net, "patch": patch}, seed=0)
    with pytest.raises(InvalidInput, match="for a 3D net"):
        pulaski_settings({"patch": [16, 64, 64]}, seed=0)
    assert pulaski_settings({"net": net}, seed=0)[1] == (16, 64, 64)
