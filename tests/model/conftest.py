"""Torch's thread count is process-wide: a test that changes it must put it back."""

from collections.abc import Callable, Iterator

import pytest
import torch


@pytest.fixture
def torch_threads() -> Iterator[Callable[[int], None]]:
    """``torch_threads(n)`` sets torch's thread count for this test only (restored after it);
    a test that calls code which sets it (a stage's ``run``) requests this fixture too."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _thread_count_does_not_leak(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that leaves torch's thread count changed (it would slow or speed every test
    after it); the count is restored either way."""
    before = torch.get_num_threads()
    yield
    after = torch.get_num_threads()
    if after != before:
        torch.set_num_threads(before)
        pytest.fail(
            f"{request.node.name} left torch.get_num_threads() at {after} (was {before}); "
            "use the torch_threads fixture"
        )
