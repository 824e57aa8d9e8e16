"""Fixtures for the alert tests (helpers live in ``alert_helpers``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alert_helpers import Clock, EngineFactory, quiet_rules

from alerts.config import RulesConfig
from alerts.engine import Engine
from alerts.store import Store
from heatwatch.registry import Registry


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "alerts.db")
    yield s
    s.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_engine(store: Store, clock: Clock) -> EngineFactory:
    def make(rules: RulesConfig | None = None, reg: Registry | None = None,
             receivers: tuple[str, ...] = ("webhook",)) -> Engine:
        return Engine(rules or quiet_rules(), store, clock, registry=reg, receivers=receivers)

    return make
