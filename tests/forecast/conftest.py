from __future__ import annotations

from collections.abc import Iterator

import pytest
from openmeteo_server import OpenMeteoServer, serve


@pytest.fixture
def open_meteo() -> Iterator[OpenMeteoServer]:
    yield from serve()
