"""Inference: sliding-window prediction over volumes, slab by slab, into an optional writer."""

from __future__ import annotations

from learning.infer.predict import InferConfig, ProbabilityWriter, predict, weight_map, window_starts

__all__ = ["InferConfig", "ProbabilityWriter", "predict", "weight_map", "window_starts"]
