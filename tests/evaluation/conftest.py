"""One torch thread per test: the models here are tiny, so a second thread buys nothing, and
on a shared 2-core machine OpenMP threads spinning against another process's load make
encoding ~8x slower (measured: 12.8 s vs 1.6 s for one Cranfield encode with the tiny model)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
