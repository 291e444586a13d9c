"""Concord's exceptions. Services raise them; one DRF handler maps them to HTTP answers.

Pure module (no Django import) so ingest, storage and numerical code can raise them too.
"""

from __future__ import annotations

__all__ = ["ConcordError", "InvalidInput", "Conflict", "NotFound", "TransientError", "IntegrityError"]


class ConcordError(Exception):
    """Base class; ``str(err)`` is a message a user can act on (names the file and the problem)."""


class InvalidInput(ConcordError):
    """Bad input from a user or a file (HTTP 400). Never retried."""


class Conflict(ConcordError):
    """The request names a stale version or collides with existing state (HTTP 409)."""

    def __init__(self, message: str, *, current: object | None = None) -> None:
        super().__init__(message)
        self.current = current


class NotFound(ConcordError):
    """The object does not exist or the caller may not see it (HTTP 404)."""


class IntegrityError(ConcordError):
    """Stored data fails its checksum: the store is corrupt (HTTP 500, never silently served)."""


class TransientError(ConcordError):
    """A fault worth retrying (store I/O, broker, S3); Celery tasks autoretry on it."""
