"""One exception handler: Concord errors become 400/404/409 with a message naming the problem."""

from __future__ import annotations

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import Conflict, IntegrityError, InvalidInput, NotFound

_STATUS = {
    InvalidInput: status.HTTP_400_BAD_REQUEST,
    NotFound: status.HTTP_404_NOT_FOUND,
    Conflict: status.HTTP_409_CONFLICT,
    IntegrityError: status.HTTP_500_INTERNAL_SERVER_ERROR,
}


def exception_handler(exc, context):  # noqa: ANN001
    for cls, code in _STATUS.items():
        if isinstance(exc, cls):
            body = {"detail": str(exc)}
            current = getattr(exc, "current", None)
            if current is not None:
                body["current"] = current
            return Response(body, status=code)
    return drf_exception_handler(exc, context)
