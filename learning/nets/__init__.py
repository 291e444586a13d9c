"""Networks: MONAI models configured from frozen configs, plus feature hooks."""

from __future__ import annotations

from learning.nets.segmenter import (
    NetConfig,
    bottleneck_and_statistics,
    bottleneck_block,
    bottleneck_features,
    build_segmenter,
    encoder_statistics,
)

__all__ = ["NetConfig", "build_segmenter", "bottleneck_block", "bottleneck_features", "encoder_statistics",
           "bottleneck_and_statistics"]
