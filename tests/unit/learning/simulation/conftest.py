"""One intra-op thread: on a shared 2-core machine torch's thread pool over-subscribes and slows tests 5-10x."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
