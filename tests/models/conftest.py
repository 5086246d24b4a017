"""Model tests run torch single-threaded (``single_torch_thread`` of tests/conftest.py)."""
import pytest


@pytest.fixture(autouse=True)
def model_tests_single_threaded(single_torch_thread):
    yield
