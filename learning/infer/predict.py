"""Pre-segmentation: sliding-window inference over a volume, slab by slab along Z, in bounded memory.

How the slabs stay exact. MONAI's ``sliding_window_inference`` averages window logits with a weight
map. With a separable weight map ``w(z, y, x) = g_z(z) g_y(y) g_x(x)`` (``weight_map``), the whole-volume
result at a voxel equals the ``g_z``-weighted mean, over the Z positions of MONAI's window grid, of
what ``sliding_window_inference`` returns on the one-window-deep slab at each such position (its
in-plane average). So ``predict`` runs MONAI on each window-deep slab (the halo is the window's depth),
blends the slabs along Z, and writes every Z range as soon as no later slab touches it. No window is
computed twice; memory holds about two window depths of the volume.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch
from monai.inferers import sliding_window_inference
from torch import nn

from learning.configs import InferConfig
from learning.data.normalise import normalise, volume_stats
from learning.data.readers import ArrayReader, VolumeReader
from learning.types import ProgressFn, Region

__all__ = ["InferConfig", "ProbabilityWriter", "predict", "weight_map", "window_starts"]



class ProbabilityWriter(Protocol):
    """Receives each finished slab, e.g. to write it into a zarr array (``array[region] = probs``)."""

    def write(self, region: Region, probs: np.ndarray) -> None:
        """``probs`` is float32 ``(z, y, x)``, or ``(C, z, y, x)`` for multi-class, covering ``region``."""
        ...


def _axis_weights(n: int, mode: str, sigma_scale: float, floor: float) -> torch.Tensor:
    if mode == "constant":
        return torch.ones(n, dtype=torch.float32)
    x = torch.arange(-(n - 1) / 2.0, (n - 1) / 2.0 + 1, dtype=torch.float32)
    g = torch.exp(x**2 / (-2 * (sigma_scale * n) ** 2))
    return torch.clamp(g, min=floor)


def weight_map(roi_size: tuple[int, ...], mode: str = "gaussian", sigma_scale: float = 0.125) -> torch.Tensor:
    """Separable window weight map, for ``sliding_window_inference(..., roi_weight_map=...)``.

    MONAI's own gaussian map clamps the 3D product at 1e-3, which breaks separability in the window
    corners; here each 1D factor is clamped at ``1e-3 ** (1 / ndim)`` instead, so the product is
    separable and never below 1e-3.

    Returns:
        float32 tensor of shape ``roi_size``.
    """
    floor = 1e-3 ** (1.0 / len(roi_size))
    w = _axis_weights(roi_size[0], mode, sigma_scale, floor)
    for n in roi_size[1:]:
        w = w.unsqueeze(-1) * _axis_weights(n, mode, sigma_scale, floor)
    return w


def window_starts(size: int, roi: int, overlap: float) -> list[int]:
    """Start positions of MONAI's sliding windows along one axis of ``size`` (``size >= roi``)."""
    interval = roi if roi == size else max(int(roi * (1 - overlap)), 1)
    num = int(math.ceil(size / interval))
    last = next((d for d in range(num) if d * interval + roi >= size), None)
    count = last + 1 if last is not None else 1
    return [i * interval - max(i * interval + roi - size, 0) for i in range(count)]


def _activate(logits: torch.Tensor) -> torch.Tensor:
    """(C, ...) logits -> foreground probability (...) for C <= 2, else class probabilities (C, ...)."""
    if logits.shape[0] == 1:
        return torch.sigmoid(logits[0])
    probs = torch.softmax(logits, dim=0)
    return probs[1] if logits.shape[0] == 2 else probs


def _sym_pad(n: int, want: int) -> tuple[int, int]:
    extra = max(want - n, 0)
    return extra // 2, extra - extra // 2


class _CachedZReader:
    """Reads consecutive, overlapping Z ranges of a reader, re-using the overlap it already holds."""

    def __init__(self, reader: VolumeReader) -> None:
        self.reader = reader
        self.start = 0
        self.data: np.ndarray | None = None

    def read(self, z0: int, z1: int) -> np.ndarray:
        _, y, x = self.reader.shape
        if self.data is not None and self.start <= z0 < self.start + len(self.data):
            have_stop = self.start + len(self.data)
            parts = [self.data[z0 - self.start : min(z1, have_stop) - self.start]]
            if z1 > have_stop:
                parts.append(self.reader.read((slice(have_stop, z1), slice(0, y), slice(0, x))))
            out = np.concatenate(parts) if len(parts) > 1 else parts[0]
        else:
            out = self.reader.read((slice(z0, z1), slice(0, y), slice(0, x)))
        self.start, self.data = z0, out
        return out


def predict(
    volume: np.ndarray | VolumeReader,
    model: nn.Module,
    *,
    config: InferConfig,
    device: torch.device,
    out: ProbabilityWriter | None = None,
    progress: ProgressFn | None = None,
    keep: bool = True,
    mc_dropout: bool = False,
) -> np.ndarray | None:
    """Pre-segment one volume with ``model``, slab by slab along Z.

    Args:
        volume: ``(Z, Y, X)`` array or a ``VolumeReader`` (read one window depth at a time).
        model: segmenter returning logits ``(B, C, *roi)``; switched to eval mode for the call and
            restored afterwards (MC-dropout callers enable dropout layers themselves).
        config: windowing, blending, normalisation.
        device: where the model runs (the model is moved there).
        out: optional writer; receives every finished Z slab once, in increasing Z.
        progress: optional ``progress(fraction, {"z": done_slices})``.
        keep: also assemble and return the whole probability map (set False with ``out`` to keep
            memory bounded for very large volumes).
        mc_dropout: keep dropout layers active (one Monte-Carlo sample per call; seed torch's global
            generator, or call ``seed_everything``, before each sample for reproducibility).

    Returns:
        float32 probabilities: ``(Z, Y, X)`` foreground probability for models with 1 (sigmoid) or 2
        (softmax) output channels, ``(C, Z, Y, X)`` for more classes; ``None`` when ``keep`` is False.

    Raises:
        ValueError: the volume is not 3D, or the roi's dimensionality does not match the model's input.
    """
    reader = volume if not isinstance(volume, np.ndarray) else ArrayReader(volume)
    if len(reader.shape) != 3:
        raise ValueError(f"predict needs a (Z, Y, X) volume, got shape {reader.shape}")
    norm = config.normalisation
    stats = None
    if norm.mode == "zscore" and (norm.mean is None or norm.std is None):
        stats = volume_stats(reader, nonzero=norm.nonzero)
    use_amp = (device.type == "cuda") if config.amp is None else (bool(config.amp) and device.type == "cuda")
    was_training = model.training
    model.to(device).eval()
    if mc_dropout:
        for m in model.modules():
            if isinstance(m, nn.modules.dropout._DropoutNd):
                m.train()

    def net(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=use_amp):
            return model(x).float()

    chunks: list[tuple[Region, np.ndarray]] = []

    def emit(region: Region, probs: np.ndarray) -> None:
        if out is not None:
            out.write(region, probs)
        if keep:
            chunks.append((region, probs))
        if progress is not None:
            progress(region[0].stop / reader.shape[0], {"z": region[0].stop})

    try:
        with torch.inference_mode():
            if config.spatial_dims == 3:
                _predict_3d(reader, net, config, device, lambda a: normalise(a, norm, stats=stats), emit)
            else:
                _predict_2d(reader, net, config, device, lambda a: normalise(a, norm, stats=stats), emit)
    finally:
        model.train(was_training)
    if not keep:
        return None
    first = chunks[0][1]
    full = np.empty(first.shape[:-3] + tuple(reader.shape), dtype=np.float32)
    for region, probs in chunks:
        full[(..., *region)] = probs
    return full


def _predict_3d(
    reader: VolumeReader,
    net: Callable[[torch.Tensor], torch.Tensor],
    config: InferConfig,
    device: torch.device,
    norm: Callable[[np.ndarray], np.ndarray],
    emit: Callable[[Region, np.ndarray], None],
) -> None:
    zdim, ydim, xdim = reader.shape
    rz, ry, rx = config.roi_size
    pz, py, px = _sym_pad(zdim, rz), _sym_pad(ydim, ry), _sym_pad(xdim, rx)
    zp = zdim + sum(pz)
    wmap = weight_map(config.roi_size, config.mode, config.sigma_scale).to(device)
    gz = wmap[:, ry // 2, rx // 2] / wmap[rz // 2, ry // 2, rx // 2]
    starts = window_starts(zp, rz, config.overlap)
    cache = _CachedZReader(reader)
    acc: torch.Tensor | None = None  # (C, depth, Yp, Xp) weighted logit sums from z = base
    wsum = torch.zeros(0, device=device)
    base = 0
    for i, s in enumerate(starts):
        # slab [s, s + rz) in padded Z coordinates -> rows of the real volume
        lo, hi = max(s - pz[0], 0), min(s + rz - pz[0], zdim)
        slab = norm(cache.read(lo, hi))
        slab = np.pad(slab, [(lo - (s - pz[0]), (s + rz - pz[0]) - hi), py, px])
        x = torch.from_numpy(np.ascontiguousarray(slab))[None, None].to(device)
        row = sliding_window_inference(
            x,
            config.roi_size,
            config.sw_batch_size,
            net,
            overlap=config.overlap,
            mode=config.mode,
            roi_weight_map=wmap,
        )[0]
        need = s + rz - base
        if acc is None:
            acc = torch.zeros((row.shape[0], need, *row.shape[2:]), device=device)
            wsum = torch.zeros(need, device=device)
        elif need > acc.shape[1]:
            grow = need - acc.shape[1]
            acc = torch.cat([acc, acc.new_zeros((acc.shape[0], grow, *acc.shape[2:]))], dim=1)
            wsum = torch.cat([wsum, wsum.new_zeros(grow)])
        acc[:, s - base : s - base + rz] += row * gz[None, :, None, None]
        wsum[s - base : s - base + rz] += gz
        done = starts[i + 1] if i + 1 < len(starts) else zp
        if done > base:
            logits = acc[:, : done - base] / wsum[: done - base][None, :, None, None]
            # back to real-volume coordinates: drop the padding
            z_lo, z_hi = max(base, pz[0]), min(done, pz[0] + zdim)
            if z_hi > z_lo:
                part = logits[:, z_lo - base : z_hi - base, py[0] : py[0] + ydim, px[0] : px[0] + xdim]
                probs = _activate(part).float().cpu().numpy()
                emit((slice(z_lo - pz[0], z_hi - pz[0]), slice(0, ydim), slice(0, xdim)), probs)
            acc, wsum = acc[:, done - base :], wsum[done - base :]
            base = done


def _predict_2d(
    reader: VolumeReader,
    net: Callable[[torch.Tensor], torch.Tensor],
    config: InferConfig,
    device: torch.device,
    norm: Callable[[np.ndarray], np.ndarray],
    emit: Callable[[Region, np.ndarray], None],
) -> None:
    zdim, ydim, xdim = reader.shape
    ry, rx = config.roi_size
    half = config.context_slices // 2
    py, px = _sym_pad(ydim, ry), _sym_pad(xdim, rx)
    wmap = weight_map(config.roi_size, config.mode, config.sigma_scale).to(device)
    for z0 in range(0, zdim, config.slab_depth):
        z1 = min(z0 + config.slab_depth, zdim)
        lo, hi = max(z0 - half, 0), min(z1 + half, zdim)
        a = norm(reader.read((slice(lo, hi), slice(0, ydim), slice(0, xdim))))
        a = np.pad(a, [(lo - (z0 - half), (z1 + half) - hi), py, px], mode="edge")
        win = np.lib.stride_tricks.sliding_window_view(a, config.context_slices, axis=0)  # (n, Y, X, k)
        x = torch.from_numpy(np.array(np.moveaxis(win, -1, 1), order="C")).to(device)  # (n, k, Y, X)
        logits = sliding_window_inference(
            x, config.roi_size, config.sw_batch_size, net, overlap=config.overlap, mode=config.mode,
            roi_weight_map=wmap,
        )  # (n, C, Yp, Xp)
        logits = logits[:, :, py[0] : py[0] + ydim, px[0] : px[0] + xdim].transpose(0, 1)
        probs = _activate(logits).float().cpu().numpy()
        emit((slice(z0, z1), slice(0, ydim), slice(0, xdim)), probs)
