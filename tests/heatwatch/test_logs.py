"""The services' ``log_level`` setting under ``heatwatch <command>`` (heatwatch.logs).

``heatwatch/cli.py`` configures logging before the subcommand runs; the collector then called
``logging.basicConfig`` again, which does nothing once a handler exists, so its ``log_level``
was ignored. Each service here is run through the real entry point with a registry it refuses
(exit 2 after logging is set up, before anything connects) and the root level is checked."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from heatwatch.cli import main
from heatwatch.logs import configure, level_for

SERVICES = {
    "collect": {},
    "alerts": {},
    "api": {"dev_mode": True},
}


@pytest.fixture
def root_logging() -> Iterator[logging.Logger]:
    """The root logger, put back as it was afterwards. A test calls :func:`_fresh` first:
    pytest attaches its capture handlers to the root logger only when the test body runs."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    httpx_level = logging.getLogger("httpx").level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(httpx_level)


def _fresh(root: logging.Logger) -> None:
    """The root logger as a new process has it: no handler, WARNING."""
    root.handlers.clear()
    root.setLevel(logging.WARNING)


def _config(tmp_path: Path, command: str, level: str | None) -> Path:
    registry = tmp_path / "registry.yaml"
    registry.write_text("stations: not a list\n")  # refused when the service loads it
    data: dict[str, object] = {"registry": str(registry), **SERVICES[command]}
    if level is not None:
        data["log_level"] = level
    path = tmp_path / f"{command}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("command", sorted(SERVICES))
def test_the_services_log_level_applies_under_the_heatwatch_command(
    tmp_path: Path, root_logging: logging.Logger, command: str
) -> None:
    _fresh(root_logging)
    assert main([command, "-c", str(_config(tmp_path, command, "ERROR"))]) == 2
    assert root_logging.level == logging.ERROR
    assert len(root_logging.handlers) == 1  # the CLI's handler, not a second one
    assert logging.getLogger("httpx").level == logging.ERROR


@pytest.mark.parametrize("command", sorted(SERVICES))
def test_the_command_lines_log_level_wins_over_the_file(
    tmp_path: Path, root_logging: logging.Logger, command: str
) -> None:
    _fresh(root_logging)
    cfg = _config(tmp_path, command, "ERROR")
    assert main(["--log-level", "DEBUG", command, "-c", str(cfg)]) == 2
    assert root_logging.level == logging.DEBUG
    # Debugging heatwatch is not debugging httpx: it stays at WARNING.
    assert logging.getLogger("httpx").level == logging.WARNING


def test_without_either_the_level_is_info(tmp_path: Path, root_logging: logging.Logger) -> None:
    _fresh(root_logging)
    assert main(["collect", "-c", str(_config(tmp_path, "collect", None))]) == 2
    assert root_logging.level == logging.INFO


def test_configure_adds_one_handler_and_chatty_libraries_follow_a_higher_level(
    root_logging: logging.Logger,
) -> None:
    _fresh(root_logging)
    configure("ERROR")
    configure("ERROR")
    assert len(root_logging.handlers) == 1
    assert logging.getLogger("httpx").level == logging.ERROR
    import argparse

    assert level_for(argparse.Namespace(), "WARNING") == "WARNING"
    assert level_for(argparse.Namespace(log_level=None), "WARNING") == "WARNING"
    assert level_for(argparse.Namespace(log_level="DEBUG"), "WARNING") == "DEBUG"
