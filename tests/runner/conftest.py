"""Fixtures of the runner tests."""

from collections.abc import Iterator

import pytest

from tests.runner.helpers import Processes


@pytest.fixture
def processes() -> Iterator[Processes]:
    tracked = Processes()
    yield tracked
    tracked.kill_all()
