"""Response shapes shared by the API apps."""

from __future__ import annotations

import numpy as np
from django.http import HttpResponse

__all__ = ["raw_array_response"]


def raw_array_response(array: np.ndarray) -> HttpResponse:
    """Little-endian C-order voxels, with ``X-Shape`` and ``X-Dtype`` headers to rebuild the array."""
    data = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<"), copy=False)
    resp = HttpResponse(data.tobytes(), content_type="application/octet-stream")
    resp["X-Shape"] = ",".join(map(str, array.shape))
    resp["X-Dtype"] = data.dtype.str
    return resp
