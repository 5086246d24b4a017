"""Model tests run torch single-threaded: the tiny models gain nothing from intra-op threads, and on a
shared 2-core machine spinning OpenMP threads make them 10x slower. Restored after each test."""
import pytest
import torch


@pytest.fixture(autouse=True)
def single_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
