"""Raw array responses: exact bytes back, gzip only when asked for and worth it."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from django.test import RequestFactory

from core.api.responses import GZIP_MIN_BYTES, raw_array_response


@pytest.fixture()
def label() -> np.ndarray:
    a = np.zeros((16, 256, 256), np.uint8)  # 1 MiB: at the threshold
    a[5:9, 100:140, 30:90] = 3
    assert a.nbytes >= GZIP_MIN_BYTES
    return a


def test_gzip_when_accepted_and_the_bytes_survive(label: np.ndarray) -> None:
    req = RequestFactory().get("/", HTTP_ACCEPT_ENCODING="gzip, deflate, br")
    resp = raw_array_response(label, req)
    assert resp["Content-Encoding"] == "gzip" and "Accept-Encoding" in resp["Vary"]
    assert len(resp.content) < label.nbytes // 50
    back = np.frombuffer(gzip.decompress(resp.content), np.dtype(resp["X-Dtype"]))
    np.testing.assert_array_equal(back.reshape([int(n) for n in resp["X-Shape"].split(",")]), label)


@pytest.mark.parametrize("accept", ["", "identity", "gzip;q=0", "br"])
def test_plain_bytes_when_gzip_not_accepted(label: np.ndarray, accept: str) -> None:
    resp = raw_array_response(label, RequestFactory().get("/", HTTP_ACCEPT_ENCODING=accept))
    assert not resp.has_header("Content-Encoding")
    assert resp.content == label.tobytes()


def test_small_bodies_and_big_endian_input() -> None:
    a = np.arange(24, dtype=">i2").reshape(2, 3, 4)
    resp = raw_array_response(a, RequestFactory().get("/", HTTP_ACCEPT_ENCODING="gzip"))
    assert not resp.has_header("Content-Encoding") and resp["X-Dtype"] == "<i2"
    np.testing.assert_array_equal(np.frombuffer(resp.content, "<i2").reshape(2, 3, 4), a)
