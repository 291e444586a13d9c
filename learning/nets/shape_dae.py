"""Denoising autoencoder on label shapes, for anatomically-aware uncertainty (Adiga Vasudeva et al. 2023).

Why: a segmenter's mistakes often give shapes no rater would draw. A DAE trained to map corrupted
label maps back to clean ones learns the shape prior; where a prediction differs from the DAE's
reconstruction of it, the prediction is anatomically implausible. The DAE is an encoder-decoder
WITHOUT skip connections and with a small bottleneck, so it cannot copy its input through.

Corruptions (applied to clean binary masks during training): boundary voxel swaps, random
erosion/dilation, salt-and-pepper noise, and Gaussian noise on the soft map.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.networks.blocks import Convolution
from scipy import ndimage
from torch import nn

from learning.configs import ShapeDAEConfig

__all__ = [
    "ShapeDAEConfig",
    "ShapeDAE",
    "build_shape_dae",
    "swap_boundary",
    "random_morphology",
    "salt_pepper",
    "corrupt",
    "train_shape_dae",
    "reconstruct",
]


class _SubPixelUp(nn.Module):
    """x2 up-sampling by a 3x3 convolution to ``2**sd * c_out`` channels and a voxel shuffle (Shi et al.
    2016): the same function class as a stride-2 transposed convolution, two to three times faster on
    the CPU for these few channels; optional batch norm + ReLU after."""

    def __init__(self, sd: int, c_in: int, c_out: int, *, act: bool) -> None:
        super().__init__()
        conv = nn.Conv2d if sd == 2 else nn.Conv3d
        self.conv = conv(c_in, c_out * 2**sd, kernel_size=3, padding=1)
        norm = nn.BatchNorm2d if sd == 2 else nn.BatchNorm3d
        self.post = nn.Sequential(norm(c_out), nn.ReLU(inplace=True)) if act else nn.Identity()
        self.sd, self.c_out = sd, c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        if self.sd == 2:
            return self.post(F.pixel_shuffle(h, 2))
        b, _, d, hh, w = h.shape
        h = h.reshape(b, self.c_out, 2, 2, 2, d, hh, w).permute(0, 1, 5, 2, 6, 3, 7, 4)
        return self.post(h.reshape(b, self.c_out, 2 * d, 2 * hh, 2 * w))


class ShapeDAE(nn.Module):
    """Encoder (strided convs) -> 1x1 bottleneck -> decoder (sub-pixel up-sampling); no skips.

    Input ``(B, 1, *spatial)`` soft or binary masks (sizes multiples of ``config.divisor``);
    output logits of the same shape. No layer runs at full size with more than one output channel
    (the first convolution is strided, the last up-sampling gives the logits), which keeps the DAE at
    about a tenth to a fifth of the cost of the (8, 16, 32) segmenter on the CPU (``bench/uncertainty.py``).
    """

    def __init__(self, config: ShapeDAEConfig) -> None:
        super().__init__()
        sd, ch = config.spatial_dims, config.channels
        enc: list[nn.Module] = []
        c_in = 1
        for c in ch:
            enc.append(Convolution(sd, c_in, c, strides=2, kernel_size=3, act="RELU", norm="BATCH"))
            c_in = c
        enc.append(Convolution(sd, c_in, config.bottleneck, kernel_size=1, act="RELU", norm=None))
        dec: list[nn.Module] = [Convolution(sd, config.bottleneck, ch[-1], kernel_size=1, act="RELU", norm=None)]
        c_in = ch[-1]
        for c in reversed(ch[:-1]):
            dec.append(_SubPixelUp(sd, c_in, c, act=True))
            c_in = c
        # the last up-sampling gives the logits directly: a full-size hidden layer would make the DAE cost
        # about as much as the segmenter, and the method's point is one cheap extra pass
        dec.append(_SubPixelUp(sd, c_in, 1, act=False))
        self.encoder, self.decoder = nn.Sequential(*enc), nn.Sequential(*dec)
        self.config = config

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def build_shape_dae(config: ShapeDAEConfig) -> ShapeDAE:
    """Build the shape DAE."""
    return ShapeDAE(config)


# ------------------------------------------------------------------------------ corruptions


def swap_boundary(mask: np.ndarray, rng: np.random.Generator, *, p: float = 0.5) -> np.ndarray:
    """Flip each voxel of the mask's inner/outer boundary with probability ``p`` (uint8 out)."""
    m = mask.astype(bool)
    boundary = m ^ ndimage.binary_erosion(m) | (ndimage.binary_dilation(m) & ~m)
    flip = boundary & (rng.random(m.shape) < p)
    return (m ^ flip).astype(np.uint8)


def random_morphology(mask: np.ndarray, rng: np.random.Generator, *, max_iter: int = 2) -> np.ndarray:
    """Randomly erode or dilate by 1..``max_iter`` voxels (a dilation when erosion would empty it)."""
    m = mask.astype(bool)
    it = int(rng.integers(1, max_iter + 1))
    out = ndimage.binary_erosion(m, iterations=it) if rng.random() < 0.5 else ndimage.binary_dilation(m, iterations=it)
    if not out.any() and m.any():
        out = ndimage.binary_dilation(m, iterations=it)
    return out.astype(np.uint8)


def salt_pepper(mask: np.ndarray, rng: np.random.Generator, *, p: float = 0.02) -> np.ndarray:
    """Flip each voxel with probability ``p``."""
    return (mask.astype(bool) ^ (rng.random(mask.shape) < p)).astype(np.uint8)


def corrupt(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random combination of the corruptions, plus Gaussian noise and a random blur: float32 in [0, 1]."""
    m = mask.astype(np.uint8)
    if rng.random() < 0.6:
        m = random_morphology(m, rng)
    if rng.random() < 0.6:
        m = swap_boundary(m, rng, p=float(rng.uniform(0.2, 0.6)))
    if rng.random() < 0.4:
        m = salt_pepper(m, rng, p=float(rng.uniform(0.005, 0.03)))
    soft = m.astype(np.float32)
    if rng.random() < 0.5:
        soft = ndimage.gaussian_filter(soft, sigma=float(rng.uniform(0.3, 1.0)))
    soft = soft + rng.normal(0.0, float(rng.uniform(0.0, 0.15)), soft.shape).astype(np.float32)
    return np.clip(soft, 0.0, 1.0).astype(np.float32)


# --------------------------------------------------------------------------------- training


def train_shape_dae(
    masks: np.ndarray,
    *,
    config: ShapeDAEConfig = ShapeDAEConfig(),
    iterations: int = 300,
    batch_size: int = 32,
    lr: float = 2e-3,
    rng: np.random.Generator,
    device: torch.device,
    progress: Callable[[float, dict[str, Any]], None] | None = None,
) -> ShapeDAE:
    """Train the DAE to map ``corrupt(mask)`` back to ``mask`` (BCE + soft Dice).

    Args:
        masks: ``(S, *spatial)`` binary masks (clean labels, e.g. consensus slices).
        config: architecture.
        iterations, batch_size, lr: Adam schedule.
        rng: corruption, batches and flips; also seeds the weights.
        device: where to train.
        progress: ``progress(fraction, {"loss"})`` every 50 steps.

    Returns:
        The DAE on CPU in eval mode.
    """
    if masks.ndim != config.spatial_dims + 1:
        raise ValueError(f"masks must be (S, *spatial) with {config.spatial_dims} spatial axes")
    if any(s % config.divisor for s in masks.shape[1:]):
        raise ValueError(f"spatial sizes {masks.shape[1:]} must be multiples of {config.divisor}")
    torch.manual_seed(int(rng.integers(0, 2**31)))
    model = build_shape_dae(config).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    t0 = time.perf_counter()
    for step in range(iterations):
        idx = rng.integers(0, masks.shape[0], size=min(batch_size, masks.shape[0]))
        clean = masks[idx].astype(np.uint8)
        for ax in range(1, clean.ndim):
            if rng.random() < 0.5:
                clean = np.flip(clean, ax)
        noisy = np.stack([corrupt(c, rng) for c in clean])
        x = torch.from_numpy(noisy[:, None]).to(device)
        y = torch.from_numpy(np.ascontiguousarray(clean[:, None], dtype=np.float32)).to(device)
        logits = model(x)
        p = torch.sigmoid(logits)
        inter = (p * y).flatten(1).sum(1)
        dice = 1 - (2 * inter + 1) / (p.flatten(1).sum(1) + y.flatten(1).sum(1) + 1)
        loss = F.binary_cross_entropy_with_logits(logits, y) + dice.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if progress is not None and (step + 1) % 50 == 0:
            progress((step + 1) / iterations, {"loss": float(loss.detach()), "elapsed_s": time.perf_counter() - t0})
    return model.cpu().eval()


def reconstruct(model: ShapeDAE, masks: np.ndarray | torch.Tensor, *, device: torch.device | None = None) -> np.ndarray:
    """DAE reconstruction (foreground probability) of ``(B, *spatial)`` soft or binary masks."""
    x = torch.as_tensor(np.asarray(masks, dtype=np.float32) if not isinstance(masks, torch.Tensor) else masks)
    dev = device or next(model.parameters()).device
    with torch.inference_mode():
        out = torch.sigmoid(model.to(dev).eval()(x[:, None].float().to(dev)))[:, 0]
    return out.cpu().numpy()
