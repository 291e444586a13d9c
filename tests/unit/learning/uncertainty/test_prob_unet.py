"""Probabilistic U-Net / PULASki: shapes, single U-Net pass when sampling, KL, losses."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from learning.nets.prob_unet import (
    ProbTrainConfig,
    ProbUNetConfig,
    binarise_samples,
    build_prob_unet,
    focal_tversky_loss,
    hausdorff_divergence,
    pulaski_loss,
    sample,
    sinkhorn_divergence,
    summarise_samples,
    train_prob_unet,
    training_presence,
)

TINY2 = ProbUNetConfig(spatial_dims=2, channels=(4, 8), strides=(2,), features=4)
TINY3 = ProbUNetConfig(spatial_dims=3, channels=(4, 8), strides=(2,), features=4)


def make_multirater(n: int = 48, size: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Discs on a plain image; rater k draws radius 2 + k (so the raters disagree systematically)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    imgs = np.zeros((n, 1, size, size), np.float32)
    raters = np.zeros((n, 4, size, size), np.uint8)
    for i in range(n):
        cy, cx = rng.integers(6, size - 6, 2)
        r2 = (yy - cy) ** 2 + (xx - cx) ** 2
        imgs[i, 0] = (r2 < 9).astype(np.float32)
        for k in range(4):
            raters[i, k] = r2 < (2 + k) ** 2
    return imgs, raters


@pytest.mark.parametrize("cfg", [TINY2, TINY3], ids=["2d", "3d"])
def test_shapes_and_kl(cfg: ProbUNetConfig) -> None:
    torch.manual_seed(0)
    m = build_prob_unet(cfg)
    x = torch.rand(2, 1, *([8] * cfg.spatial_dims))
    s = sample(m.eval(), x, 3)
    assert s.shape == (3, 2, *([8] * cfg.spatial_dims))
    assert float(s.min()) >= 0 and float(s.max()) <= 1
    raters = (torch.rand(2, 4, *([8] * cfg.spatial_dims)) > 0.5).float()
    loss, info = pulaski_loss(m.train(), x, raters)
    assert torch.isfinite(loss) and info["kl"] >= 0
    loss.backward()


def test_sampling_runs_unet_once() -> None:
    m = build_prob_unet(TINY2).eval()
    calls = []
    h = m.unet.register_forward_hook(lambda *_: calls.append(1))
    sample(m, torch.rand(2, 1, 8, 8), 8)
    h.remove()
    assert len(calls) == 1


def test_summary() -> None:
    probs = np.zeros((4, 8, 8), np.float32)
    probs[:2, 2:6, 2:6] = 1.0
    s = summarise_samples(probs)
    assert s.variance.max() == pytest.approx(0.25)
    # pairs: 2 identical non-empty, 2 empty, 4 cross pairs with d = 1 -> mean over 16 = 8/16
    assert s.ged == pytest.approx(0.5)


def test_binarise_removes_specks_only() -> None:
    """Components under ``min_size`` voxels go; a lesion stays; per slice or over the whole block."""
    probs = np.zeros((2, 2, 12, 12), np.float32)
    probs[0, 0, 2:6, 2:6] = 0.9  # a 16-voxel lesion
    probs[0, 0, 10, 10] = 0.8  # a one-voxel speck beside it
    probs[1, :, 5:8, 5:8] = 0.7  # 9 voxels on each of two slices: 18 connected in 3D
    probs[1, 1, 0, 0] = 0.4  # under the threshold
    out = binarise_samples(probs, min_size=10)
    assert out.dtype == np.uint8 and out.shape == probs.shape
    assert out[0, 0, 2:6, 2:6].all() and out[0, 0].sum() == 16  # the speck is gone
    assert out[1].sum() == 0  # 9 < 10 on each slice
    block = binarise_samples(probs, min_size=10, slice_wise=False)
    assert block[1].sum() == 18  # one 3D component of 18 voxels
    assert binarise_samples(probs, min_size=0).sum() == 16 + 1 + 18
    assert summarise_samples(probs, min_size=10).samples.sum() == 16


def test_distances_lower_for_matching_sets() -> None:
    _, raters = make_multirater(4)
    y = torch.from_numpy(raters.reshape(4, 4, -1).astype(np.float32))
    same = y.clone()
    shifted = torch.roll(y, shifts=3, dims=2)
    for fn in (sinkhorn_divergence, hausdorff_divergence):
        assert float(fn(same, y).mean()) < float(fn(shifted, y).mean())
        assert float(fn(same, y).mean()) == pytest.approx(0.0, abs=1e-2)


def test_focal_tversky_perfect_is_zero() -> None:
    t = torch.zeros(1, 8, 8)
    t[0, 2:5, 2:5] = 1
    assert float(focal_tversky_loss(t, t)[0]) == pytest.approx(0.0, abs=1e-4)  # clamped at 1e-6 ** 0.75


def test_focal_tversky_over_the_batch() -> None:
    """Over the batch (the authors' code), an item whose reader outlined nothing is weighed against the
    others' true positives; per item, its few false positives alone cost it most of the loss."""
    t = torch.zeros(2, 8, 8)
    t[0, 2:5, 2:5] = 1                     # item 0 outlined, item 1 empty
    p = t.clone()
    p[1, 0, 0] = 1                         # one false-positive voxel on the empty item
    per_item = focal_tversky_loss(p, t)
    batch = focal_tversky_loss(p, t, per_item=False)
    assert per_item.shape == (2,) and batch.shape == (1,)
    assert float(per_item[1]) > 0.3 and float(batch[0]) < 0.1
    assert torch.allclose(focal_tversky_loss(p[:1], t[:1], per_item=False), focal_tversky_loss(p[:1], t[:1]))


def test_pulaski_loss_decreases() -> None:
    imgs, raters = make_multirater(32)
    cfg = ProbTrainConfig(loss="sinkhorn", iterations=40, batch_size=8, lr=3e-3, net=TINY2)
    res = train_prob_unet(cfg, imgs, raters, device=torch.device("cpu"))
    assert np.mean(res.losses[-8:]) < np.mean(res.losses[:8])


def test_cosine_schedule_trains_and_changes_the_run() -> None:
    imgs, raters = make_multirater(32)
    runs = {sch: train_prob_unet(ProbTrainConfig(loss="sinkhorn", iterations=40, batch_size=8, lr=3e-3, net=TINY2,
                                                 lr_schedule=sch), imgs, raters, device=torch.device("cpu"))
            for sch in ("constant", "cosine")}
    cos = runs["cosine"]
    assert np.mean(cos.losses[-8:]) < np.mean(cos.losses[:8])
    assert cos.losses[0] == runs["constant"].losses[0]  # same seed, same first step: only the schedule differs
    w = [dict(r.model.named_parameters()) for r in runs.values()]
    assert any(not torch.equal(w[0][k], w[1][k]) for k in w[0])
    with pytest.raises(ValueError, match="lr_schedule"):
        ProbTrainConfig(lr_schedule="step")


def test_warmup_runs_the_baseline_loss_first_then_pulaski() -> None:
    imgs, raters = make_multirater(16)
    base = dict(batch_size=4, lr=3e-3, net=TINY2)
    cpu = torch.device("cpu")
    ft = train_prob_unet(ProbTrainConfig(loss="focal_tversky", iterations=3, **base), imgs, raters, device=cpu)
    warm = train_prob_unet(ProbTrainConfig(loss="sinkhorn", iterations=5, warmup_iterations=3, **base), imgs, raters,
                           device=cpu)
    plain = train_prob_unet(ProbTrainConfig(loss="sinkhorn", iterations=5, **base), imgs, raters, device=cpu)
    assert warm.losses[:3] == ft.losses  # same seed, same batches: the warm-up steps are the baseline's
    assert warm.losses[0] != plain.losses[0]
    assert warm.losses[3] > 1.0 > max(ft.losses)  # then the voxel-summed distance (a Tversky loss is <= 1)
    with pytest.raises(ValueError, match="warmup_iterations"):
        ProbTrainConfig(iterations=5, warmup_iterations=5)
    with pytest.raises(ValueError, match="focal_tversky already"):
        ProbTrainConfig(loss="focal_tversky", iterations=5, warmup_iterations=1)


def test_training_presence_tells_a_collapsed_net_from_a_live_one() -> None:
    imgs, raters = make_multirater(16)
    cpu = torch.device("cpu")
    empty = build_prob_unet(replace(TINY2, output_prior=1e-6))
    full = build_prob_unet(replace(TINY2, output_prior=0.999))
    assert training_presence(empty, imgs, raters, device=cpu) == 0.0
    assert training_presence(full, imgs, raters, device=cpu) == 1.0
    with pytest.raises(ValueError, match="every rater mask is empty"):
        training_presence(full, imgs, np.zeros_like(raters), device=cpu)


def test_restarts_retrain_from_the_next_seed_only_while_collapsed() -> None:
    imgs, raters = make_multirater(16)
    cpu = torch.device("cpu")
    stuck = dict(loss="sinkhorn", iterations=2, batch_size=4, lr=1e-9, net=replace(TINY2, output_prior=1e-6))
    res = train_prob_unet(ProbTrainConfig(restarts=2, seed=5, **stuck), imgs, raters, device=cpu)
    assert res.restarts == 2 and res.train_presence == 0.0  # every run collapsed; the last one is kept
    assert res.losses == train_prob_unet(ProbTrainConfig(seed=7, **stuck), imgs, raters, device=cpu).losses
    live = dict(stuck, net=replace(TINY2, output_prior=0.9))
    ok = train_prob_unet(ProbTrainConfig(restarts=2, seed=5, **live), imgs, raters, device=cpu)
    assert ok.restarts == 0 and ok.train_presence > 0
    assert ok.losses == train_prob_unet(ProbTrainConfig(seed=5, **live), imgs, raters, device=cpu).losses
    blank = train_prob_unet(ProbTrainConfig(restarts=2, seed=5, **stuck), imgs, np.zeros_like(raters), device=cpu)
    assert blank.restarts == 0 and blank.train_presence is None  # nothing outlined: no collapse to tell
    with pytest.raises(ValueError, match="restarts"):
        ProbTrainConfig(restarts=-1)


def test_baseline_trains() -> None:
    imgs, raters = make_multirater(16)
    cfg = ProbTrainConfig(loss="focal_tversky", iterations=40, batch_size=8, lr=1e-2, net=TINY2)
    res = train_prob_unet(cfg, imgs, raters, device=torch.device("cpu"))
    assert np.mean(res.losses[-5:]) < np.mean(res.losses[:5])


@pytest.mark.parametrize("cfg", [TINY2, TINY3], ids=["2d", "3d"])
def test_decode_many_equals_decode(cfg: ProbUNetConfig) -> None:
    torch.manual_seed(0)
    m = build_prob_unet(cfg).eval()
    x = torch.rand(2, 1, *([8] * cfg.spatial_dims))
    feats = m.features(x)
    z = torch.randn(3, 2, cfg.latent_dim)
    many = m.decode_many(feats, z)
    for i in range(3):
        torch.testing.assert_close(many[i], m.decode(feats, z[i])[:, 0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("block", [24, 200], ids=["voxel-blocks", "item-blocks"])
@pytest.mark.parametrize("cfg", [TINY2, TINY3], ids=["2d", "3d"])
def test_blocked_cpu_decode_equals_conv_decode(cfg: ProbUNetConfig, block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inference takes the blocked path; blocks of part of an image or of several images (with a partial
    last block) must still equal ``decode``."""
    torch.manual_seed(1)
    m = build_prob_unet(cfg).eval()
    monkeypatch.setattr(type(m), "_BLOCK_VOXELS", block)
    x = torch.rand(5, 1, *([8] * cfg.spatial_dims))
    z = torch.randn(4, 5, cfg.latent_dim)
    with torch.inference_mode():
        feats = m.features(x)
        many = m.decode_many(feats, z)
        for i in range(4):
            torch.testing.assert_close(many[i], m.decode(feats, z[i])[:, 0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(m(x), m.decode(feats, m.prior(x).mean), rtol=1e-5, atol=1e-5)


def test_pulaski_prior_weight_trains_the_prior_through_its_samples() -> None:
    """With ``prior_weight`` the distance is also taken on prior samples, reparameterised: the prior net's
    gradient changes (without it the prior learns from the KL term alone)."""
    from learning.nets.prob_unet import build_prob_unet

    imgs, raters = make_multirater(8)
    x, y = torch.from_numpy(imgs[:4]), torch.from_numpy(raters[:4]).float()

    def prior_grad(weight: float) -> torch.Tensor:
        torch.manual_seed(0)
        model = build_prob_unet(TINY2).train()
        loss, _ = pulaski_loss(model, x, y, prior_weight=weight)
        loss.backward()
        return torch.cat([p.grad.flatten() for p in model.prior_net.parameters() if p.grad is not None])

    g0, g1 = prior_grad(0.0), prior_grad(1.0)
    assert g0.shape == g1.shape and not torch.allclose(g0, g1)


def test_sampling_temperature_scales_the_latent_spread() -> None:
    """At temperature 0 every sample is the prior mean's decoding (the model's forward); at 1 they differ."""
    torch.manual_seed(0)
    m = build_prob_unet(TINY2).eval()
    torch.nn.init.normal_(m.prior_net.head.weight, std=0.5)
    x = torch.rand(2, 1, 8, 8)
    cold = sample(m, x, 3, temperature=0.0)
    with torch.inference_mode():
        best = torch.sigmoid(m(x))[:, 0]
    for s in cold:
        torch.testing.assert_close(s, best)
    warm = sample(m, x, 3, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(warm[0], warm[1])


def test_ema_returns_the_moving_average_and_leaves_training_alone() -> None:
    imgs, raters = make_multirater(16)
    base = dict(loss="sinkhorn", batch_size=4, lr=3e-3, net=TINY2)
    torch.manual_seed(0)
    init = {k: v.detach().clone() for k, v in build_prob_unet(TINY2).named_parameters()}  # train's seeded start
    one = train_prob_unet(ProbTrainConfig(iterations=1, **base), imgs, raters, device=torch.device("cpu"))
    ema = train_prob_unet(ProbTrainConfig(iterations=1, ema_decay=0.75, **base), imgs, raters, device=torch.device("cpu"))
    for k, v in ema.model.named_parameters():  # one step: 0.75 * start + 0.25 * the step's weights
        torch.testing.assert_close(v, 0.75 * init[k] + 0.25 * dict(one.model.named_parameters())[k])
    runs = [train_prob_unet(ProbTrainConfig(iterations=20, ema_decay=d, **base), imgs, raters, device=torch.device("cpu"))
            for d in (0.0, 0.9)]
    assert runs[0].losses == runs[1].losses  # the average is only read at the end
    with pytest.raises(ValueError, match="ema_decay"):
        ProbTrainConfig(ema_decay=1.0)
