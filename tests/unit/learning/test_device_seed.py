from __future__ import annotations

import numpy as np
import pytest
import torch

from learning.device import ENV_VAR, pick_device
from learning.seed import seed_everything


def test_pick_device_cpu_and_env(monkeypatch):
    assert pick_device("cpu") == torch.device("cpu")
    monkeypatch.setenv(ENV_VAR, "cpu")
    assert pick_device() == torch.device("cpu")
    monkeypatch.delenv(ENV_VAR)
    assert pick_device().type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("bad", ["tpu", "nonsense"])
def test_pick_device_rejects_unknown(bad):
    with pytest.raises(ValueError):
        pick_device(bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised when CUDA is missing")
def test_pick_device_cuda_missing():
    with pytest.raises(ValueError, match="CUDA is not available"):
        pick_device("cuda")


def test_seed_everything_repeats():
    seed_everything(3)
    a = (np.random.rand(), torch.rand(2))
    seed_everything(3)
    b = (np.random.rand(), torch.rand(2))
    assert a[0] == b[0] and torch.equal(a[1], b[1])
    with pytest.raises(ValueError):
        seed_everything(-1)
