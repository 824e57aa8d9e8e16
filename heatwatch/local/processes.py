"""heatwatch services as child processes, and the config files they read.

``heatwatch run``, the chaos harness and the benchmarks start the same commands the same way:
:func:`heatwatch_argv` (this interpreter, so the venv and the checkout the caller runs from),
output into a log file, stopped with SIGTERM and killed if it does not exit in time.

Their config files are written from the services' own settings models
(:func:`write_settings`), not from dicts: a misspelt key or a wrong type fails where the file
is made, with pydantic's precise message, instead of in a child's log.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml
from pydantic import SecretStr, TypeAdapter

from heatwatch.settings import HeatwatchSettings, load_settings

__all__ = ["Child", "heatwatch_argv", "settings_data", "write_settings"]

_ANY: TypeAdapter[Any] = TypeAdapter(Any)


def heatwatch_argv(*args: str) -> list[str]:
    """``heatwatch <args>`` as this interpreter runs it."""
    return [sys.executable, "-m", "heatwatch.cli", *args]


@dataclass
class Child:
    """One command as a child process, its stdout and stderr appended to ``log_path``.

    ``own_group``: the child leads its own process group, and :meth:`stop`/:meth:`kill` signal
    the whole group (what a chaos test needs to kill a service as an OOM kill would). Without
    it (``heatwatch run``) the child stays in the terminal's group, so Ctrl-C reaches it too.
    """

    name: str
    argv: list[str]
    log_path: Path
    cwd: Path | None = None
    own_group: bool = False
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        assert not self.alive(), f"{self.name} already running"
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv, cwd=self.cwd, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=self.own_group,
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: what an OOM kill or a power cut does."""
        self._signal(signal.SIGKILL, 10.0)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM (clean stop), SIGKILL if it does not exit in time; the exit code (None:
        never started)."""
        return self._signal(signal.SIGTERM, timeout)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _send(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            if self.own_group:
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)

    def _signal(self, sig: signal.Signals, timeout: float) -> int | None:
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            self._send(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._send(signal.SIGKILL)
                proc.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None
        return proc.returncode


def _plain(value: Any) -> Any:
    """YAML-ready values, secrets in clear (the file is the service's own config)."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return _ANY.dump_python(value, mode="json")


def settings_data(settings: HeatwatchSettings) -> dict[str, Any]:
    """What was set on ``settings`` (not the defaults, which stay the service's), as the
    mapping a YAML config file holds."""
    data = _plain(settings.model_dump(mode="python", exclude_unset=True))
    assert isinstance(data, dict)
    return data


def write_settings(path: Path, settings: HeatwatchSettings) -> Path:
    """Write ``settings`` as the YAML file a service loads back to the same settings."""
    path.write_text(yaml.safe_dump(settings_data(settings), sort_keys=False), encoding="utf-8")
    loaded = load_settings(type(settings), path)
    if loaded != settings:  # a model that does not round-trip through YAML: a bug to fix here
        raise ValueError(f"{path}: {type(settings).__name__} does not load back as written")
    return path
