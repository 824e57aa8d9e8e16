"""Reading docker-compose.yml the way Compose does, without Docker: interpolation, volumes, and
the heatwatch settings class behind each service.

Interpolation follows the Compose Specification: ``$$`` is a literal ``$``; ``${VAR}``,
``${VAR:-default}`` / ``${VAR-default}``, ``${VAR:?err}`` / ``${VAR?err}``; ``:`` forms treat an
empty value like a missing one.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from heatwatch.settings import HeatwatchSettings

ROOT = Path(__file__).resolve().parents[2]
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


class MissingVariable(ValueError):
    """What Compose reports when a required variable is unset: the file cannot be used."""


def interpolate(value: Any, env: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group(1), m.group(2), m.group(3)
        current = env.get(name)
        unset = current is None or (op is not None and op.startswith(":") and current == "")
        if op in (":?", "?") and unset:
            raise MissingVariable(f"{name}: {arg}")
        if op in (":-", "-") and unset:
            return arg
        return current or ""

    return _VAR.sub(one, value)


def merge(base: Any, override: Any) -> Any:
    """``docker compose -f base -f override``, as far as our files need it: mappings merge
    key by key (recursively), anything else in the override replaces the base's value."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = merge(base[key], value) if key in base else value
        return out
    return override


def variables(text: str) -> dict[str, set[str]]:
    """Every ``${VAR...}`` in the raw file: name -> set of operators used (``''`` for none)."""
    out: dict[str, set[str]] = {}
    for m in _VAR.finditer(text):
        if m.group(1):
            out.setdefault(m.group(1), set()).add(m.group(2) or "")
    return out


def read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def bind_mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path (relative to the repository) of every bind mount."""
    out = {}
    for spec in service.get("volumes", []):
        source, target = spec.split(":")[:2]
        if source.startswith((".", "/")):
            out[target] = (ROOT / source).resolve()
    return out


def settings_class(cli_module: str) -> type[HeatwatchSettings] | None:
    """The HeatwatchSettings subclass a service's package defines (None if not written yet)."""
    package = cli_module.split(".")[0]
    for name in ("config", "settings", "scenario"):
        try:
            module = importlib.import_module(f"{package}.{name}")
        except ModuleNotFoundError:
            continue
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if (issubclass(obj, HeatwatchSettings) and obj is not HeatwatchSettings
                    and obj.__module__ == module.__name__):
                return obj
    return None


def env_path_problem(cls: type[BaseModel], name: str) -> str | None:
    """Why ``HEATWATCH_A__B`` names no setting of ``cls`` (None when it does)."""
    parts = name.removeprefix("HEATWATCH_").lower().split("__")
    model: type[BaseModel] | None = cls
    for i, part in enumerate(parts):
        if model is None or part not in model.model_fields:
            return f"{name}: {'.'.join(parts[: i + 1])} is not a setting of {cls.__name__}"
        annotation = model.model_fields[part].annotation
        model = annotation if inspect.isclass(annotation) and issubclass(
            annotation, BaseModel) else None
    return None


def host_paths(value: Any, mounts: dict[str, Path]) -> Any:
    """Replace container paths that are bind mounts with their host paths (recursively)."""
    if isinstance(value, dict):
        return {k: host_paths(v, mounts) for k, v in value.items()}
    if isinstance(value, list):
        return [host_paths(v, mounts) for v in value]
    if isinstance(value, str) and value in mounts:
        return str(mounts[value])
    return value
