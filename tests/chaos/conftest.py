"""Fixtures for the chaos tests: one whole stack per test, always torn down."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import Stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A stack of this test's own (servers and services), stopped whatever the test did."""
    s = Stack(tmp_path / "stack")
    try:
        yield s
    finally:
        s.close()
