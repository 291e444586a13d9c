"""Model weights in the store (fsspec URL), checksummed."""

from __future__ import annotations

import hashlib
import uuid

import fsspec
from django.conf import settings

from core.errors import IntegrityError

__all__ = ["save_weights", "load_weights"]


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
