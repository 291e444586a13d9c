"""Where a volume lives: fsspec URLs (local path, file://, s3://, memory://) mapped to zarr stores.

Keeps URL parsing in one place so the rest of the package only sees a ``zarr.abc.store.Store``.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import fsspec
from zarr.abc.store import Store
from zarr.storage import FsspecStore, LocalStore

from core.errors import InvalidInput, TransientError

__all__ = ["open_store", "delete_url", "new_volume_url", "check_key", "check_name"]

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")


def _local_path(url: str) -> Path | None:
    if url.startswith("file://"):
        return Path(url[len("file://") :])
    if "://" not in url:
        return Path(url)
    return None


def open_store(url: str, *, read_only: bool) -> Store:
    """A zarr store rooted at ``url``; local paths use LocalStore, everything else FsspecStore."""
    path = _local_path(url)
    if path is not None:
        return LocalStore(path, read_only=read_only)
    try:
        return FsspecStore.from_url(url.rstrip("/"), read_only=read_only)
    except (ImportError, ValueError) as exc:
        raise InvalidInput(f"cannot open volume store {url!r}: {exc}") from exc


def delete_url(url: str) -> None:
    """Remove everything under ``url``; a missing URL is not an error (cleanup is idempotent)."""
    path = _local_path(url)
    target = str(path) if path is not None else url.rstrip("/")
    fs, fpath = fsspec.core.url_to_fs(target)
    try:
        if fs.exists(fpath):
            fs.rm(fpath, recursive=True)
    except FileNotFoundError:
        pass
    except OSError as exc:  # network stores: worth a retry
        raise TransientError(f"could not delete {url}: {exc}") from exc


def new_volume_url(root: str, prefix: str = "volumes") -> str:
    """A fresh URL ``root/prefix/<uuid4 hex>.zarr`` that nothing points at yet (see package doc)."""
    return f"{root.rstrip('/')}/{prefix.strip('/')}/{uuid.uuid4().hex}.zarr"


def check_key(key: str) -> str:
    """Validate a zarr key coming from an HTTP client (``"0/c/0/1/2"``); no escaping the group."""
    if not isinstance(key, str) or not key or len(key) > 512:
        raise InvalidInput(f"invalid store key {key!r}")
    if key.startswith("/") or "\\" in key or "\x00" in key or ":" in key:
        raise InvalidInput(f"invalid store key {key!r}: must be relative")
    parts = key.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise InvalidInput(f"invalid store key {key!r}: empty, '.' or '..' segment")
    return key


def check_name(name: str) -> str:
    """Label names become store paths; only [A-Za-z0-9_-]+ is allowed."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or len(name) > 128:
        raise InvalidInput(f"invalid label name {name!r}: use letters, digits, '_' or '-'")
    return name
