"""Configure MONAI's UNet as Concord's segmenter, and read its features.

Concord writes here only what MONAI lacks: early argument checks against a config, a hook to pool the
deepest block into a vector (for batch diversity), and hooks that pool every encoder level's
pre-normalisation activations (for OOD distance).
"""

from __future__ import annotations

from typing import Any

import torch
from monai.networks.layers import SkipConnection
from monai.networks.nets import UNet
from torch import nn

from learning.configs import NetConfig

__all__ = ["NetConfig", "build_segmenter", "bottleneck_block", "bottleneck_features", "encoder_statistics",
           "bottleneck_and_statistics"]


def build_segmenter(config: NetConfig) -> nn.Module:
    """Build the segmenter described by ``config``.

    Args:
        config: the architecture (already validated by ``NetConfig``).

    Returns:
        A MONAI ``UNet`` mapping ``(B, in_channels, *spatial)`` to logits ``(B, out_channels, *spatial)``;
        spatial sizes must be multiples of ``config.divisor``.

    Raises:
        ValueError: ``config`` is not a ``NetConfig``.

    Examples:
        >>> net = build_segmenter(NetConfig(spatial_dims=2, channels=(4, 8, 16), strides=(2, 2)))
        >>> net(torch.zeros(1, 1, 32, 32)).shape
        torch.Size([1, 2, 32, 32])
    """
    if not isinstance(config, NetConfig):
        raise ValueError(f"build_segmenter needs a NetConfig, got {type(config).__name__}")
    norm: Any = {"instance": "instance", "batch": "batch", "none": None}[config.norm]
    if norm == "instance":
        norm = ("instance", {"affine": True})
    return UNet(
        spatial_dims=config.spatial_dims,
        in_channels=config.in_channels,
        out_channels=config.out_channels,
        channels=config.channels,
        strides=config.strides,
        kernel_size=config.kernel_size,
        up_kernel_size=config.kernel_size,
        num_res_units=config.num_res_units,
        norm=norm,
        dropout=config.dropout,
    )


def encoder_blocks(model: nn.Module) -> list[nn.Module]:
    """The encoder of a MONAI ``UNet``, top to bottom: each level's down block, then the deepest block.

    Raises:
        ValueError: ``model`` is not a MONAI ``UNet``-shaped module.
    """
    m: nn.Module | None = getattr(model, "model", None)
    if m is None:
        raise ValueError("expected a MONAI UNet (no .model attribute)")
    blocks = []
    while isinstance(m, nn.Sequential) and len(m) == 3 and isinstance(m[1], SkipConnection):
        blocks.append(m[0])
        m = m[1].submodule
    return [*blocks, m]


def bottleneck_block(model: nn.Module) -> nn.Module:
    """The deepest block of a MONAI ``UNet`` (the module at the bottom of its skip connections).

    Raises:
        ValueError: ``model`` is not a MONAI ``UNet``-shaped module.
    """
    return encoder_blocks(model)[-1]


def bottleneck_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run ``model`` on ``x`` and return its deepest block's output, averaged over space.

    The model's train/eval mode is left as the caller set it (eval for OOD features; train keeps
    dropout active).

    Args:
        model: a segmenter from ``build_segmenter``.
        x: ``(B, C, *spatial)`` input on the model's device.

    Returns:
        ``(B, F)`` float32 features, ``F`` = the last entry of ``channels``.
    """
    return _pooled_forward(model, x, [(bottleneck_block(model), False)])[0]


_NORM_TYPES = (nn.modules.instancenorm._InstanceNorm, nn.modules.batchnorm._BatchNorm)


def _statistics_taps(model: nn.Module) -> list[tuple[nn.Module, bool]]:
    """Where ``encoder_statistics`` reads: the inputs of the encoder's normalisation layers, or the
    encoder blocks' outputs in a network without them."""
    blocks = encoder_blocks(model)
    norms = [m for b in blocks for m in b.modules() if isinstance(m, _NORM_TYPES)]
    return [(n, True) for n in norms] if norms else [(b, False) for b in blocks]


def _pooled_forward(model: nn.Module, x: torch.Tensor, taps: list[tuple[nn.Module, bool]]) -> list[torch.Tensor]:
    """One forward pass of ``model`` on ``x``; per tap ``(module, read_input)`` the module's input (or
    output) averaged over space, ``(B, C)`` float32. Pooled in the hook: a volume's full activations
    are large."""
    captured: dict[int, torch.Tensor] = {}

    def keep(i: int, t: torch.Tensor) -> None:
        captured[i] = t.flatten(2).mean(dim=2).float()

    handles = [m.register_forward_hook(lambda _m, inp, out, i=i, read_input=read_input:
                                       keep(i, inp[0] if read_input else out))
               for i, (m, read_input) in enumerate(taps)]
    try:
        with torch.inference_mode():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return [captured[i] for i in range(len(taps))]


def encoder_statistics(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Run ``model`` on ``x``; per normalisation layer of the encoder, the spatial mean of its INPUT.

    Why the input: instance normalisation fixes every channel's spatial mean and variance per image, so
    features pooled after it are blind to what changes with a scanner (brightness, contrast, noise,
    blur). The convolutions' outputs before it keep them. One vector per layer, top level first, so
    that an OOD detector can score each level and average them (the feature ensemble of Lee et al.
    2018). A network without normalisation layers gives its encoder blocks' outputs instead.

    Args:
        model: a segmenter from ``build_segmenter``; its train/eval mode is left as the caller set it.
        x: ``(B, C, *spatial)`` input on the model's device.

    Returns:
        ``L`` float32 tensors ``(B, F_l)``, ``L`` = the encoder's normalisation layers (or blocks).
    """
    return _pooled_forward(model, x, _statistics_taps(model))


def bottleneck_and_statistics(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``bottleneck_features`` and ``encoder_statistics`` of ``x`` from one forward pass."""
    pooled = _pooled_forward(model, x, [(bottleneck_block(model), False), *_statistics_taps(model)])
    return pooled[0], pooled[1:]
