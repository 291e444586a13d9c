"""Response shapes shared by the API apps."""

from __future__ import annotations

import zlib

import numpy as np
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers

__all__ = ["raw_array_response"]

#: Bodies at least this large are gzip-compressed for clients that accept it. A whole
#: 512x512x600 label is 157 MB raw and mostly zeros: about 0.2 MB gzipped, so the browser gets it in
#: well under a second instead of streaming 157 MB; small bodies (one slice) are not worth the CPU.
GZIP_MIN_BYTES = 1 << 20


def raw_array_response(array: np.ndarray, request: HttpRequest | None = None) -> HttpResponse:
    """Little-endian C-order voxels, with ``X-Shape`` and ``X-Dtype`` headers to rebuild the array.

    With ``request`` given and ``Accept-Encoding: gzip`` in it, a body of ``GZIP_MIN_BYTES`` or more
    is sent gzip-compressed (level 1: fast, and labels compress ~1000x); ``fetch`` inflates it.
    """
    data = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<"), copy=False)
    raw = memoryview(data).cast("B")
    encoding = None
    if request is not None and raw.nbytes >= GZIP_MIN_BYTES and _accepts_gzip(request):
        packer = zlib.compressobj(1, zlib.DEFLATED, 31)  # wbits 31: gzip container
        body = packer.compress(raw) + packer.flush()
        encoding = "gzip"
    else:
        body = raw.tobytes()
    resp = HttpResponse(body, content_type="application/octet-stream")
    resp["X-Shape"] = ",".join(map(str, array.shape))
    resp["X-Dtype"] = data.dtype.str
    if encoding:
        resp["Content-Encoding"] = encoding
    if request is not None:
        patch_vary_headers(resp, ("Accept-Encoding",))
    return resp


def _accepts_gzip(request: HttpRequest) -> bool:
    accept = request.headers.get("Accept-Encoding", "")
    return any(part.split(";")[0].strip() == "gzip" and not part.replace(" ", "").endswith("q=0")
               for part in accept.split(","))
