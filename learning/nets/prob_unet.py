"""Probabilistic U-Net (Kohl et al. 2018) in 2D and 3D, trained as PULASki or with Focal-Tversky + KL.

Why: a segmenter that returns one mask cannot say how raters would disagree; a probabilistic U-Net
samples plausible masks from a low-dimensional latent, so its sample spread can be compared with the
raters' spread (GED) and used as an uncertainty score for acquisition.

Architecture (Kohl et al. 2018): a MONAI ``UNet`` computes image features once; a *prior* net (image)
and a *posterior* net (image + one rater mask) each map to a diagonal Gaussian over a latent of
``latent_dim`` (6) dimensions; a latent sample is broadcast over space, concatenated to the U-Net's
last features, and a few 1x1 convolutions ("fcomb") give logits.

PULASki (Chatterjee et al. 2023, "Learning inter-rater variability using statistical distances to
improve probabilistic segmentation"): for each batch item with N raters, one latent is drawn from the
posterior given each rater's mask (N posterior samples, as in the authors' code, which runs the
posterior once per rater), the N sigmoid sample maps and the N rater masks are treated as two point
clouds of N points in R^V (V voxels), and a statistical distance between them is minimised: the
de-biased Sinkhorn divergence (geomloss ``SamplesLoss("sinkhorn", p=2, debias=True)``) or the Hausdorff
divergence, plus ``beta`` times the mean KL(posterior_i || prior). Costs are geomloss's
``|x - y|^2 / 2`` summed over voxels (the same scale as Kohl's pixel-summed cross-entropy, so
``beta = 1`` is the paper's weighting).

Baseline: the probabilistic U-Net trained with a Focal-Tversky loss on ONE rater mask per item per step
(drawn at random) plus ``beta`` KL.

Hausdorff divergence: geomloss 0.3.1 routes ``SamplesLoss("hausdorff")`` to its kernel routine without
a kernel (``KeyError: None``), so ``hausdorff_divergence`` computes Feydy's formula directly:
``H(a, b) = 1/2 <a - b, S_b - S_a>`` with the soft-min ``S_m(x) = -eps log sum_j m_j exp(-C(x, y_j)/eps)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.networks.blocks import Convolution
from scipy import ndimage
from torch import nn
from torch.distributions import Independent, Normal, kl_divergence

from learning.configs import ProbTrainConfig, ProbUNetConfig
from learning.nets.segmenter import build_segmenter

__all__ = [
    "ProbUNetConfig",
    "ProbUNet",
    "build_prob_unet",
    "sample",
    "sample_volume",
    "binarise_samples",
    "MIN_COMPONENT",
    "SampleSummary",
    "summarise_samples",
    "sinkhorn_divergence",
    "hausdorff_divergence",
    "focal_tversky_loss",
    "pulaski_loss",
    "baseline_loss",
    "ProbTrainConfig",
    "ProbTrainResult",
    "train_prob_unet",
    "training_presence",
]

# smallest connected component a binarised sample keeps, in voxels: chosen on validation splits of LIDC's
# training patients (GED over 0 / 10 / 20 px; bench/RESULTS-learning.md)
MIN_COMPONENT = 10


class _GaussianEncoder(nn.Module):
    """Convolutional encoder -> global mean -> 1x1 conv -> (mu, log_sigma) of a diagonal Gaussian."""

    def __init__(self, spatial_dims: int, in_channels: int, channels: tuple[int, ...], latent_dim: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_channels
        for i, c in enumerate(channels):
            layers.append(
                Convolution(spatial_dims, c_in, c, strides=1 if i == 0 else 2, kernel_size=3, act="RELU", norm=None)
            )
            c_in = c
        self.body = nn.Sequential(*layers)
        conv = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
        self.head = conv(c_in, 2 * latent_dim, kernel_size=1)
        nn.init.normal_(self.head.weight, std=0.01)
        nn.init.zeros_(self.head.bias)
        self.latent_dim = latent_dim

    @property
    def stride(self) -> int:
        """Total down-sampling of ``body``; it is also its receptive radius, in input voxels (3x3 kernels,
        the first at stride 1, each later one at stride 2: radius 1 + 1 + 2 + ... = 2 ** (levels - 1))."""
        return 2 ** (len(self.body) - 1)

    def forward(self, x: torch.Tensor) -> Independent:
        h = self.body(x)
        return self.distribution(h.mean(dim=tuple(range(2, h.ndim)), keepdim=True))

    def distribution(self, pooled: torch.Tensor) -> Independent:
        """The Gaussian from ``body``'s globally averaged output ``(B, C, 1, ...)``."""
        params = self.head(pooled).flatten(1)
        mu, log_sigma = params[:, : self.latent_dim], params[:, self.latent_dim :]
        return Independent(Normal(mu, torch.exp(log_sigma.clamp(-10.0, 10.0))), 1)


class ProbUNet(nn.Module):
    """Probabilistic U-Net; see the module docstring.

    Examples:
        >>> m = ProbUNet(ProbUNetConfig(spatial_dims=2, channels=(4, 8), strides=(2,)))
        >>> feats = m.features(torch.zeros(2, 1, 16, 16))
        >>> m.decode(feats, m.prior(torch.zeros(2, 1, 16, 16)).mean).shape
        torch.Size([2, 1, 16, 16])
    """

    def __init__(self, config: ProbUNetConfig) -> None:
        super().__init__()
        if not isinstance(config, ProbUNetConfig):
            raise ValueError(f"ProbUNet needs a ProbUNetConfig, got {type(config).__name__}")
        self.config = config
        sd = config.spatial_dims
        self.unet = build_segmenter(config.unet_config())
        self.prior_net = _GaussianEncoder(sd, config.in_channels, config.channels, config.latent_dim)
        self.posterior_net = _GaussianEncoder(sd, config.in_channels + 1, config.channels, config.latent_dim)
        conv = nn.Conv2d if sd == 2 else nn.Conv3d
        layers: list[nn.Module] = []
        c_in = config.features + config.latent_dim
        for _ in range(config.fcomb_layers - 1):
            layers += [conv(c_in, config.features, kernel_size=1), nn.ReLU(inplace=True)]
            c_in = config.features
        last = conv(c_in, 1, kernel_size=1)
        nn.init.constant_(last.bias, float(np.log(config.output_prior / (1.0 - config.output_prior))))
        layers.append(last)
        self.fcomb = nn.Sequential(*layers)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """U-Net features ``(B, features, *spatial)`` (run once per image)."""
        return F.relu(self.unet(x))

    def prior(self, x: torch.Tensor) -> Independent:
        """p(z | image): batch of ``latent_dim``-dimensional diagonal Gaussians."""
        return self.prior_net(x)

    def posterior(self, x: torch.Tensor, mask: torch.Tensor) -> Independent:
        """q(z | image, mask); ``mask`` is ``(B, 1, *spatial)`` in {0, 1}."""
        return self.posterior_net(torch.cat([x, mask.to(x.dtype)], dim=1))

    def decode(self, features: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """fcomb: logits ``(B, 1, *spatial)`` from features ``(B, F, *spatial)`` and latents ``(B, L)``."""
        zmap = z.reshape(*z.shape, *([1] * (features.ndim - 2))).expand(-1, -1, *features.shape[2:])
        return self.fcomb(torch.cat([features, zmap], dim=1))

    def decode_many(self, features: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """fcomb for ``n`` latents per image without copying the features ``n`` times.

        The first 1x1 convolution is linear in ``[features; z]``, so its feature part is computed once
        and the latent part is added per sample (exactly equal to ``decode`` on each latent). Without
        autograd on the CPU the remaining 1x1 layers run as small matrix products over cache-sized
        blocks of voxels (``_fcomb_blocked``): 1x1 convolutions over ``n x B`` full-size maps are
        memory bound there, and the blocks make 8 samples about four times cheaper.

        Args:
            features: ``(B, F, *spatial)``.
            z: ``(n, B, L)``.

        Returns:
            ``(n, B, *spatial)`` logits.
        """
        first = self.fcomb[0]
        nf = self.config.features
        w = first.weight.flatten(1)  # (C_out, F + L)
        sd = features.ndim - 2
        conv = F.conv2d if sd == 2 else F.conv3d
        base = conv(features, first.weight[:, :nf])  # (B, C, *spatial), no bias
        lat = z @ w[:, nf:].T + first.bias  # (n, B, C)
        if len(self.fcomb) == 1:
            return (base.unsqueeze(0) + lat.reshape(*lat.shape, *([1] * sd)))[:, :, 0]
        if base.device.type == "cpu" and not (torch.is_grad_enabled() and (base.requires_grad or lat.requires_grad)):
            return self._fcomb_blocked(base, lat)
        h = base.unsqueeze(0) + lat.reshape(*lat.shape, *([1] * sd))  # (n, B, C, *spatial)
        h = h.reshape(-1, *h.shape[2:])
        h = self.fcomb[1:](h)
        return h[:, 0].reshape(z.shape[0], features.shape[0], *features.shape[2:])

    _BLOCK_VOXELS = 16384  # one block: 16k voxels x 8 channels x 4 B = 512 KiB, about an L2 cache

    def _fcomb_blocked(self, base: torch.Tensor, lat: torch.Tensor) -> torch.Tensor:
        """fcomb after its first layer's pre-activation, one cache-sized block at a time (CPU inference).

        Args:
            base: ``(B, C, *spatial)`` feature part of the first layer.
            lat: ``(n, B, C)`` latent part plus bias of the first layer.

        Returns:
            ``(n, B, *spatial)`` logits.
        """
        n, b, c = lat.shape
        spatial = base.shape[2:]
        v = int(np.prod(spatial))
        rows = base.flatten(2).transpose(1, 2).contiguous()  # (B, V, C)
        layers = [(m.weight.flatten(1).T.contiguous(), m.bias) for m in self.fcomb[1:] if not isinstance(m, nn.ReLU)]
        out = torch.empty((n, b, v), dtype=rows.dtype, device=rows.device)
        items = max(1, self._BLOCK_VOXELS // v)
        step = min(v, self._BLOCK_VOXELS)
        for s in range(n):
            for i in range(0, b, items):
                for j in range(0, v, step):
                    h = (rows[i : i + items, j : j + step] + lat[s, i : i + items, None, :]).relu_()
                    k, m = h.shape[:2]
                    h = h.reshape(k * m, c)
                    for wt, bias in layers[:-1]:
                        h = torch.addmm(bias, h, wt).relu_()
                    wt, bias = layers[-1]
                    out[s, i : i + k, j : j + m] = torch.addmm(bias, h, wt).reshape(k, m)
        return out.reshape(n, b, *spatial)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, 1, *spatial)`` at the prior mean (a deterministic 'best guess' segmentation)."""
        return self.decode_many(self.features(x), self.prior(x).mean.unsqueeze(0))[0].unsqueeze(1)


def build_prob_unet(config: ProbUNetConfig) -> ProbUNet:
    """Build a probabilistic U-Net from its config."""
    return ProbUNet(config)


def sample(
    model: ProbUNet,
    image: torch.Tensor,
    n: int,
    *,
    generator: torch.Generator | None = None,
    logits: bool = False,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Draw ``n`` segmentations from the prior, computing the U-Net features once.

    Args:
        model: a probabilistic U-Net (its mode is left as set; call ``eval()`` first for inference).
        image: ``(B, C, *spatial)`` normalised input on the model's device.
        n: samples per image.
        generator: source of the latent draws (reproducible sampling).
        logits: return logits instead of foreground probabilities.
        temperature: the latents are drawn as ``mu + temperature * sigma * eps`` (1: the prior itself;
            lower concentrates the samples near the prior's mean, a tuning aid).

    Returns:
        ``(n, B, *spatial)`` float32 foreground probabilities (or logits).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    with torch.inference_mode():
        feats = model.features(image)
        out = model.decode_many(feats, _latents(model.prior(image), n, generator, temperature))
    return out.float() if logits else torch.sigmoid(out).float()


def _latents(prior: Independent, n: int, generator: torch.Generator | None, temperature: float = 1.0) -> torch.Tensor:
    """``n`` latents per image ``(n, B, L)`` from the prior (``mu + temperature * sigma * eps``); a given
    generator draws on the CPU, so the draws do not depend on the device."""
    mu, sigma = prior.base_dist.loc, prior.base_dist.scale
    eps = torch.randn((n, *mu.shape), generator=generator, device=mu.device if generator is None else "cpu")
    return mu + temperature * sigma * eps.to(mu.device)


def _slab(x: np.ndarray, lo: int, hi: int, device: torch.device) -> torch.Tensor:
    """Rows ``lo:hi`` of a ``(Z, Y, X)`` array as a ``(1, 1, hi - lo, Y, X)`` float32 tensor on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(x[None, None, lo:hi], dtype=np.float32)).to(device)


def _prior_in_parts(model: ProbUNet, x: np.ndarray, depth: int, device: torch.device) -> Independent:
    """p(z | the whole volume) for a padded ``(Z, Y, X)`` volume too large for one pass, from z-parts.

    The prior encoder has no normalisation and ends in a global mean, so it is computed exactly in parts:
    each part's body output, run with a halo of the body's receptive radius and cropped to the part's
    own rows, is summed, and the head runs once on the whole volume's mean. ``Z`` and ``depth`` are
    multiples of the encoder's stride.
    """
    enc = model.prior_net
    s = enc.stride
    total, count = None, 0
    for z in range(0, x.shape[0], depth):
        lo, hi = max(0, z - s), min(x.shape[0], z + depth + s)
        h = enc.body(_slab(x, lo, hi, device))[:, :, (z - lo) // s : (min(x.shape[0], z + depth) - lo) // s]
        part_sum = h.sum(dim=(2, 3, 4), keepdim=True)
        total = part_sum if total is None else total + part_sum
        count += h[0, 0].numel()
    return enc.distribution(total / count)


def sample_volume(
    model: ProbUNet,
    volume: np.ndarray,
    n: int,
    *,
    generator: torch.Generator,
    device: torch.device,
    max_voxels: int,
) -> np.ndarray:
    """Draw ``n`` segmentations of one normalised ``(Z, Y, X)`` volume with a 3D net: one latent per sample.

    The volume is padded at the far ends with its minimum to multiples of the net's divisor (in z, of
    the prior encoder's stride too). A volume over ``max_voxels`` is run in z-parts: the prior is the
    whole volume's (computed exactly in parts, ``_prior_in_parts``), each sample's latent is drawn once,
    and every part decodes with the same latents. The U-Net features of a part are computed with a halo
    of one divisor on each side (cropped away), which softens seams; they are not exact, as the U-Net
    normalises per instance.

    Returns:
        ``(n, Z, Y, X)`` float32 foreground probabilities.
    """
    div = model.config.divisor
    step = math.lcm(div, model.prior_net.stride)
    shape = [-(-s // m) * m for s, m in zip(volume.shape, (step, div, div))]
    x = np.pad(volume, [(0, t - s) for t, s in zip(shape, volume.shape)], constant_values=float(volume.min()))
    depth = max(step, max_voxels // (shape[1] * shape[2]) // step * step)
    z, y, xx = volume.shape
    if depth >= shape[0]:
        return sample(model, _slab(x, 0, shape[0], device), n, generator=generator)[:, 0].cpu().numpy()[:, :z, :y, :xx]
    out = np.empty((n, *shape), np.float32)
    with torch.inference_mode():
        latents = _latents(_prior_in_parts(model, x, depth, device), n, generator)  # (n, 1, L)
        for z0 in range(0, shape[0], depth):
            lo, hi = max(0, z0 - step), min(shape[0], z0 + depth + step)
            feats = model.features(_slab(x, lo, hi, device))[:, :, z0 - lo : min(shape[0], z0 + depth) - lo]
            out[:, z0 : z0 + depth] = torch.sigmoid(model.decode_many(feats, latents))[:, 0].float().cpu().numpy()
    return out[:, :z, :y, :xx]


@dataclass(frozen=True)
class SampleSummary:
    """Statistics of one image's samples.

    Args:
        mean: ``(*spatial)`` mean foreground probability.
        variance: ``(*spatial)`` voxel variance of the binarised samples.
        ged: mean pairwise ``1 - IoU`` among binarised samples (the sample-diversity term of GED;
            empty-vs-empty pairs count 0).
        samples: ``(n, *spatial)`` uint8 binarised samples.
    """

    mean: np.ndarray
    variance: np.ndarray
    ged: float
    samples: np.ndarray


def binarise_samples(
    probs: np.ndarray, *, threshold: float = 0.5, min_size: int = MIN_COMPONENT, slice_wise: bool = True
) -> np.ndarray:
    """Sample probabilities ``(n, *spatial)`` -> uint8 masks without foreground specks.

    Why: a sample often carries, beside its lesion, a few isolated voxels over threshold (on LIDC half the
    non-empty 2D samples had more than one component). No rater draws them, yet one speck turns an
    empty sample into a non-empty one, which costs a whole 1 - IoU in GED. Connected components smaller
    than ``min_size`` voxels are removed (0 or 1 keeps everything).

    Args:
        probs: ``(n, *spatial)`` foreground probabilities.
        threshold: foreground where ``probs >= threshold``.
        min_size: smallest component kept, in voxels.
        slice_wise: components within each 2D slice (the last two axes): samples of a 2D net, drawn
            slice by slice. False: over each sample's whole array (a 3D net's block).
    """
    b = np.ascontiguousarray(np.asarray(probs) >= threshold)
    if min_size > 1 and b.size:
        for m in b.reshape(-1, *b.shape[-2:]) if slice_wise else b:  # views into b
            lab, k = ndimage.label(m)
            if k:
                small = np.bincount(lab.ravel()) < min_size
                small[0] = False
                if small.any():
                    m[small[lab]] = False
    return b.astype(np.uint8)


def summarise_samples(
    probs: np.ndarray | torch.Tensor, *, threshold: float = 0.5, min_size: int = MIN_COMPONENT, slice_wise: bool = True
) -> SampleSummary:
    """Mean, voxel variance and sample diversity of ``(n, *spatial)`` sample probabilities of one image
    (binarised by ``binarise_samples``)."""
    from annotation.metrics.ged import pairwise_iou_matrix

    p = probs.detach().cpu().numpy() if isinstance(probs, torch.Tensor) else np.asarray(probs)
    binary = binarise_samples(p, threshold=threshold, min_size=min_size, slice_wise=slice_wise)
    d = 1.0 - pairwise_iou_matrix(binary)
    return SampleSummary(
        mean=p.mean(0).astype(np.float32),
        variance=binary.astype(np.float32).var(0),
        ged=float(d.mean()),
        samples=binary,
    )


# ----------------------------------------------------------------------------------- losses


def sinkhorn_divergence(x: torch.Tensor, y: torch.Tensor, *, blur: float = 2.0) -> torch.Tensor:
    """De-biased Sinkhorn divergence between point clouds ``x (B, N, V)`` and ``y (B, M, V)`` -> ``(B,)``."""
    from geomloss import SamplesLoss

    loss = SamplesLoss("sinkhorn", p=2, blur=blur, debias=True, scaling=0.8, backend="tensorized")
    return loss(x, y)


def _softmin(c: torch.Tensor, eps: float, log_w: torch.Tensor) -> torch.Tensor:
    """``-eps log sum_j w_j exp(-c_ij / eps)``; c: (B, N, M), log_w: (B, M) -> (B, N)."""
    return -eps * torch.logsumexp(log_w[:, None, :] - c / eps, dim=2)


def hausdorff_divergence(x: torch.Tensor, y: torch.Tensor, *, blur: float = 2.0) -> torch.Tensor:
    """Hausdorff divergence (Feydy) between uniform point clouds ``x (B, N, V)``, ``y (B, M, V)`` -> ``(B,)``.

    Cost ``|x - y|^2 / 2`` (p = 2), ``eps = blur ** 2``.
    """
    eps = blur**2

    def cost(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return 0.5 * torch.cdist(a, b).pow(2)

    la = torch.full(x.shape[:2], -float(np.log(x.shape[1])), device=x.device, dtype=x.dtype)
    lb = torch.full(y.shape[:2], -float(np.log(y.shape[1])), device=y.device, dtype=y.dtype)
    s_b_at_x, s_a_at_x = _softmin(cost(x, y), eps, lb), _softmin(cost(x, x), eps, la)
    s_a_at_y, s_b_at_y = _softmin(cost(y, x), eps, la), _softmin(cost(y, y), eps, lb)
    return 0.5 * ((s_b_at_x - s_a_at_x).mean(1) + (s_a_at_y - s_b_at_y).mean(1))


def focal_tversky_loss(
    probs: torch.Tensor, target: torch.Tensor, *, alpha: float = 0.7, beta: float = 0.3, gamma: float = 0.75,
    per_item: bool = True,
) -> torch.Tensor:
    """Focal-Tversky loss (Abraham & Khan 2019); ``alpha`` weighs false negatives.

    ``per_item``: one Tversky index per item, ``(B,)``; False: one over the whole batch, ``(1,)``, as the
    authors' code computes it. Per item an empty target (a reader who outlined nothing) has no true
    positives to win, so its only gradient is towards predicting nothing; over the batch its false
    positives weigh against the other items' true positives.
    """
    dims = 1 if per_item else tuple(range(probs.dim()))
    p, t = (probs.flatten(1), target.flatten(1).to(probs.dtype)) if per_item else (probs, target.to(probs.dtype))
    tp = (p * t).sum(dims)
    fn = ((1 - p) * t).sum(dims)
    fp = (p * (1 - t)).sum(dims)
    ti = (tp + 1.0) / (tp + alpha * fn + beta * fp + 1.0)
    return (1.0 - ti).clamp_min(1e-6).pow(gamma).reshape(-1)  # pow(<1) has an infinite slope at 0


def pulaski_loss(
    model: ProbUNet,
    image: torch.Tensor,
    raters: torch.Tensor,
    *,
    distance: str = "sinkhorn",
    beta: float = 1.0,
    blur: float = 2.0,
    prior_weight: float = 0.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """PULASki's training loss for a batch.

    Args:
        model: the probabilistic U-Net (train mode).
        image: ``(B, C, *spatial)``.
        raters: ``(B, N, *spatial)`` rater masks in {0, 1} (replicate raters to fill N when fewer).
        distance: ``"sinkhorn"`` or ``"hausdorff"``.
        beta: KL weight.
        blur: geomloss blur (``eps = blur ** 2``) in units of the per-voxel cost.
        prior_weight: weight of the same distance between N samples of the PRIOR (reparameterised,
            so it trains the prior net) and the raters; 0 (the default) leaves the loss as published.

    Returns:
        ``(loss, {"distance", "kl"})``; the loss is a mean over the batch.
    """
    if distance not in ("sinkhorn", "hausdorff"):
        raise ValueError(f"distance must be 'sinkhorn' or 'hausdorff', got {distance!r}")
    b, n = raters.shape[:2]
    feats = model.features(image)
    prior = model.prior(image)
    rep_img = image.unsqueeze(1).expand(b, n, *image.shape[1:]).reshape(b * n, *image.shape[1:])
    masks = raters.reshape(b * n, 1, *raters.shape[2:]).to(image.dtype)
    post = model.posterior(rep_img, masks)
    z = post.rsample()
    rep_feats = feats.unsqueeze(1).expand(b, n, *feats.shape[1:]).reshape(b * n, *feats.shape[1:])
    probs = torch.sigmoid(model.decode(rep_feats, z)).reshape(b, n, -1)
    target = raters.reshape(b, n, -1).to(probs.dtype)
    fn = sinkhorn_divergence if distance == "sinkhorn" else hausdorff_divergence
    # float32 whatever the caller's autocast: costs summed over V voxels lose too much precision in float16
    with torch.autocast(device_type=probs.device.type, enabled=False):
        dist = fn(probs.float(), target.float(), blur=blur)
    prior_rep = Independent(
        Normal(
            prior.base_dist.loc.repeat_interleave(n, 0),
            prior.base_dist.scale.repeat_interleave(n, 0),
        ),
        1,
    )
    kl = kl_divergence(post, prior_rep).reshape(b, n).mean(1)
    loss = (dist + beta * kl).mean()
    if prior_weight > 0:
        zp = prior_rep.rsample()
        probs_p = torch.sigmoid(model.decode(rep_feats, zp)).reshape(b, n, -1)
        with torch.autocast(device_type=probs_p.device.type, enabled=False):
            loss = loss + prior_weight * fn(probs_p.float(), target.float(), blur=blur).mean()
    return loss, {"distance": float(dist.mean().detach()), "kl": float(kl.mean().detach())}


def baseline_loss(
    model: ProbUNet,
    image: torch.Tensor,
    raters: torch.Tensor,
    *,
    beta: float = 1.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Focal-Tversky + ``beta`` KL on one randomly chosen rater per item (the probabilistic U-Net
    baseline); the Tversky index over the whole batch (``focal_tversky_loss(per_item=False)``), so that
    items whose chosen rater outlined nothing do not drive it to empty masks."""
    b, n = raters.shape[:2]
    pick = torch.randint(0, n, (b,), generator=generator).to(raters.device)
    target = raters[torch.arange(b, device=raters.device), pick].unsqueeze(1).to(image.dtype)
    feats = model.features(image)
    prior = model.prior(image)
    post = model.posterior(image, target)
    probs = torch.sigmoid(model.decode(feats, post.rsample()))
    ft = focal_tversky_loss(probs, target, per_item=False)
    kl = kl_divergence(post, prior)
    # Focal-Tversky is a fraction in [0, 1]; the KL is per image: weigh the KL per voxel as in
    # pixel-summed reconstruction losses would, i.e. divide by the voxel count.
    vox = float(np.prod(image.shape[2:]))
    loss = (ft + beta * kl / vox).mean()
    return loss, {"distance": float(ft.mean().detach()), "kl": float(kl.mean().detach())}


# --------------------------------------------------------------------------------- training


@dataclass(frozen=True)
class ProbTrainResult:
    """A trained probabilistic U-Net (on CPU, eval mode) and its per-step losses.

    ``losses`` and the model are the kept run's; ``elapsed_s`` counts every run. ``restarts`` is how many
    runs were discarded as collapsed (``ProbTrainConfig.restarts``); ``train_presence`` is the kept
    run's ``training_presence`` (``None`` when not measured: no restarts allowed, or no rater outlined
    anything).
    """

    model: ProbUNet
    losses: tuple[float, ...]
    elapsed_s: float
    restarts: int = 0
    train_presence: float | None = None


def training_presence(
    model: ProbUNet, images: np.ndarray, raters: np.ndarray, *, device: torch.device, n: int = 4, max_items: int = 64,
) -> float:
    """Share of (prior sample, item) pairs with foreground over training items that some rater
    outlined, the samples binarised as the validation's ``val_sample_presence`` binarises them
    (``binarise_samples``: specks do not count); 0 means the net has collapsed to empty output
    (``(S, C, *spatial)`` images, ``(S, N, *spatial)`` raters). Training items only: the validation
    cases stay for the evaluation. The first ``max_items`` such items, ``n`` latents each, drawn with a
    fixed generator.
    """
    outlined = np.flatnonzero(raters.reshape(len(raters), -1).any(1))[:max_items]
    if outlined.size == 0:
        raise ValueError("training_presence needs an item that some rater outlined; every rater mask is empty")
    model = model.to(device).eval()
    probs = sample(model, torch.from_numpy(np.ascontiguousarray(images[outlined], dtype=np.float32)).to(device), n,
                   generator=torch.Generator().manual_seed(0))
    model.cpu()
    spatial = probs.shape[2:]
    binary = binarise_samples(probs.cpu().numpy().reshape(-1, *spatial), slice_wise=model.config.spatial_dims == 2)
    return float(binary.reshape(len(binary), -1).any(1).mean())


def train_prob_unet(
    config: ProbTrainConfig,
    images: np.ndarray,
    raters: np.ndarray,
    *,
    device: torch.device,
    progress: Callable[[float, dict[str, Any]], None] | None = None,
) -> ProbTrainResult:
    """Train on in-memory samples with random flips; with ``config.restarts``, train again from new
    weights (seed + 1, + 2, ...) while ``training_presence`` is 0.

    Why restarts: on LIDC 3D patches one training seed collapsed to empty output under every prior,
    learning rate and warm-up tried, while other seeds on the same patients trained
    (bench/RESULTS-learning.md); the start, not the data, decides it.

    Args:
        config: the run.
        images: ``(S, C, *spatial)`` float32 normalised images.
        raters: ``(S, N, *spatial)`` uint8 rater masks; a rater who outlined nothing is an empty mask
            (``Case.readers``, a rater's empty submission), as the GED it is judged by counts them.
        device: where to train.
        progress: ``progress(fraction, {"loss", ...})`` every 50 steps (fraction of one run).

    Returns:
        The kept model (CPU, eval mode), its losses, and how many collapsed runs were discarded.
    """
    if images.shape[0] != raters.shape[0] or images.shape[2:] != raters.shape[2:]:
        raise ValueError(f"images {images.shape} and raters {raters.shape} do not match")
    checked = config.restarts > 0 and bool(raters.any())  # no outlined item: nothing tells a collapse apart
    spent = 0.0
    for attempt in range(config.restarts + 1):
        run = _train_once(replace(config, seed=config.seed + attempt), images, raters, device=device,
                          progress=progress)
        spent += run.elapsed_s
        if not checked:
            return run
        presence = training_presence(run.model, images, raters, device=device)
        if presence > 0 or attempt == config.restarts:
            return ProbTrainResult(model=run.model, losses=run.losses, elapsed_s=spent, restarts=attempt,
                                   train_presence=presence)
    raise AssertionError("unreachable")


def _train_once(
    config: ProbTrainConfig,
    images: np.ndarray,
    raters: np.ndarray,
    *,
    device: torch.device,
    progress: Callable[[float, dict[str, Any]], None] | None,
) -> ProbTrainResult:
    """One training run of ``config`` (the loop ``train_prob_unet`` repeats on a collapse)."""
    import time

    t0 = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    model = build_prob_unet(config.net).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.iterations)
             if config.lr_schedule == "cosine" else None)
    ema = ([p.detach().clone() for p in model.parameters()] if config.ema_decay > 0 else None)
    losses: list[float] = []
    spatial_axes = tuple(range(2, images.ndim))
    for step in range(config.iterations):
        idx = rng.integers(0, images.shape[0], size=min(config.batch_size, images.shape[0]))
        x, y = images[idx], raters[idx]
        for ax in spatial_axes[-2:]:
            if rng.random() < 0.5:
                x, y = np.flip(x, ax), np.flip(y, ax)
        xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device)
        yt = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32)).to(device)
        if config.loss == "focal_tversky" or step < config.warmup_iterations:
            loss, info = baseline_loss(model, xt, yt, beta=config.beta, generator=gen)
        else:
            loss, info = pulaski_loss(model, xt, yt, distance=config.loss, beta=config.beta, blur=config.blur,
                                      prior_weight=config.prior_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        if ema is not None:
            with torch.no_grad():
                torch._foreach_lerp_(ema, [p.detach() for p in model.parameters()], 1.0 - config.ema_decay)
        losses.append(float(loss.detach()))
        if progress is not None and (step + 1) % 50 == 0:
            progress((step + 1) / config.iterations, {"loss": float(np.mean(losses[-50:])), **info})
    if ema is not None:  # parameters only: the nets normalise by instance, so there are no running statistics
        with torch.no_grad():
            for p, a in zip(model.parameters(), ema):
                p.copy_(a)
    return ProbTrainResult(model=model.cpu().eval(), losses=tuple(losses), elapsed_s=time.perf_counter() - t0)
