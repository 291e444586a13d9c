"""Shared helpers for bench/ scripts: environment record, timing summaries, the JSON last line.

Generic on purpose: any benchmark (storage, metrics, training) can use it.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["env_info", "summarize", "emit", "time_calls", "log"]


def env_info() -> dict[str, Any]:
    """Versions and hardware the figures were measured on (torch/device only when importable)."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "device": "cpu",
    }
    try:
        import zarr

        info["zarr"] = zarr.__version__
    except ImportError:
        pass
    try:
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["device"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def summarize(times: Sequence[float]) -> dict[str, float]:
    """p50, p99 and min of durations in seconds."""
    t = np.asarray(times, dtype=np.float64)
    return {"p50": float(np.percentile(t, 50)), "p99": float(np.percentile(t, 99)), "min": float(t.min())}


def time_calls(fn: Callable[[], Any], *, repeats: int, warmup: int = 2) -> list[float]:
    """Durations (s) of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def log(msg: str) -> None:
    """Progress line to stderr (stdout is reserved for the result)."""
    print(msg, file=sys.stderr, flush=True)


def emit(result: dict[str, Any]) -> None:
    """Print ``result`` as one JSON object on the last stdout line."""
    sys.stdout.flush()
    print(json.dumps(result, default=float), flush=True)
