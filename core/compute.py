"""Dask for array work across jobs: a distributed cluster when DASK_SCHEDULER_ADDRESS is set,
else the local threaded scheduler (numpy, zlib/zstd and pydicom's decoders release the GIL)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import dask
from dask.callbacks import Callback

__all__ = ["map_collect"]

T = TypeVar("T")


class _Progress(Callback):
    def __init__(self, total: int, report: Callable[[int, int], None]) -> None:
        super().__init__()
        self.total, self.done, self.report = total, 0, report

    def _posttask(self, key, result, dsk, state, worker_id) -> None:  # noqa: ANN001
        self.done += 1
        self.report(min(self.done, self.total), self.total)


def _capture(fn: Callable[..., T], item: Any) -> T | BaseException:
    try:
        return fn(item)
    except Exception as exc:  # collected so every failing item can be named, not just the first
        return exc


def map_collect(
    fn: Callable[[Any], T], items: Sequence[Any], *, progress: Callable[[int, int], None] | None = None
) -> list[T | BaseException]:
    """Run ``fn`` over ``items`` in parallel; return results in order, exceptions as values.

    ``fn`` and the items must be picklable when a distributed scheduler is used.
    """
    address = os.environ.get("DASK_SCHEDULER_ADDRESS", "")
    if address:
        from distributed import Client, as_completed

        with Client(address) as client:
            futures = client.map(_capture, [fn] * len(items), items, pure=False)
            for n, _ in enumerate(as_completed(futures), 1):
                if progress:
                    progress(n, len(items))
            return client.gather(futures)
    tasks = [dask.delayed(_capture, pure=False)(fn, item) for item in items]
    workers = int(os.environ.get("CONCORD_INGEST_WORKERS", str(os.cpu_count() or 2)))
    with _Progress(len(tasks), progress) if progress else contextlib.nullcontext():
        return list(dask.compute(*tasks, scheduler="threads", num_workers=workers))
