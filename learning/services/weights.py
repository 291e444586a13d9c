"""Model weights in the store (fsspec URL), checksummed."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable
from typing import TypeVar

import fsspec
from django.conf import settings

from core.errors import IntegrityError

__all__ = ["save_weights", "load_weights", "thread_cached"]

T = TypeVar("T")
_local = threading.local()


def save_weights(data: bytes) -> tuple[str, str]:
    """Write weights under a fresh URL; returns (url, sha256)."""
    url = f"{settings.STORE_URL.rstrip('/')}/models/{uuid.uuid4().hex}.pt"
    fs, path = fsspec.core.url_to_fs(url)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(path, "wb") as fh:
        fh.write(data)
    return url, hashlib.sha256(data).hexdigest()


def load_weights(url: str, sha256: str) -> bytes:
    with fsspec.open(url, "rb") as fh:
        data = fh.read()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise IntegrityError(f"model weights {url} fail their checksum")
    return data


def thread_cached(version_id: int, load: Callable[[], T]) -> T:
    """What ``load`` returns for a model version, loaded once per thread: scoring runs cases on Dask
    threads, and a torch module must not be shared between threads that run it."""
    cache = getattr(_local, "models", None)
    if cache is None:
        cache = _local.models = {}
    if version_id not in cache:
        cache[version_id] = load()
    return cache[version_id]
