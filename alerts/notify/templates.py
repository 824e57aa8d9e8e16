"""Message templates: the shipped en/zh ones, overridden per key from an operator's directory.

Why a directory (Alertmanager's ``templates:``): the wording of a page is tuned by the crews
who receive it, and editing files inside the installed package is lost on the next upgrade.
``notifications.templates: /etc/heatwatch/templates`` holds ``en.yaml`` and/or ``zh.yaml``
in the shipped layout (``alerts/templates/<language>.yaml``); each key given there replaces
the shipped one - a single rule's ``lines.<rule>``, one of ``words``, or a whole ``markdown``
body - and everything not given (a key, a whole language) stays as shipped.

Checked once at start-up, with the file and key in each error: an unknown language file, an
unknown top-level key, an unknown rule or word (a typo would otherwise be ignored silently),
a value that is not text, Jinja that does not compile (with its line), and a ``words`` entry
with ``{placeholders}`` the code does not fill.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, TemplateSyntaxError

__all__ = ["LANGUAGES", "TemplateError", "TemplateSet", "load_templates", "shipped"]

LANGUAGES = ("en", "zh")
SECTIONS = ("words", "rules", "lines")  # mappings, overridden entry by entry
BODIES = ("title", "text", "markdown", "html")  # one Jinja template each


class TemplateError(ValueError):
    """A template directory that cannot be used; the message lists every problem found."""


@functools.cache
def shipped(language: str) -> dict[str, Any]:
    """The templates in the installed package (``alerts/templates/<language>.yaml``)."""
    text = resources.files("alerts.templates").joinpath(f"{language}.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def _fields(text: str) -> set[str]:
    """The ``{name}`` placeholders of a ``str.format`` pattern."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _check_jinja(env: Environment, where: str, source: str, problems: list[str]) -> None:
    try:
        env.parse(source)
    except TemplateSyntaxError as exc:
        problems.append(f"{where}: Jinja error on line {exc.lineno}: {exc.message}")


def _merge(language: str, path: Path, override: object, problems: list[str]) -> dict[str, Any]:
    """The shipped templates of ``language`` with ``override`` applied; problems collected."""
    base = shipped(language)
    merged: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    if override is None:
        return merged
    if not isinstance(override, Mapping):
        problems.append(f"{path}: must be a mapping of template keys")
        return merged
    env = Environment(autoescape=False)
    for key, value in override.items():
        where = f"{path}: {key}"
        if key in SECTIONS:
            if not isinstance(value, Mapping):
                problems.append(f"{where}: must be a mapping")
                continue
            known = base[key]
            for name, text in value.items():
                at = f"{where}.{name}"
                if name not in known:
                    what = {"words": "word", "rules": "rule", "lines": "rule line"}[key]
                    problems.append(f"{at}: unknown {what}; known: {', '.join(sorted(known))}")
                elif not isinstance(text, str):
                    problems.append(f"{at}: must be text, not {type(text).__name__}")
                elif key == "words" and (extra := _fields(text) - _fields(known[name])):
                    allowed = ", ".join(sorted(_fields(known[name]))) or "none"
                    problems.append(f"{at}: placeholders {sorted(extra)} are never filled "
                                    f"(allowed: {allowed})")
                else:
                    if key == "lines":
                        _check_jinja(env, at, text, problems)
                    merged[key][name] = text
        elif key in BODIES:
            if not isinstance(value, str):
                problems.append(f"{where}: must be text, not {type(value).__name__}")
                continue
            _check_jinja(env, where, value, problems)
            merged[key] = value
        else:
            problems.append(f"{where}: unknown key; known: {', '.join(SECTIONS + BODIES)}")
    return merged


class TemplateSet:
    """The templates of every language, as the renderers use them (already checked)."""

    def __init__(self, data: Mapping[str, dict[str, Any]] | None = None,
                 source: Path | None = None) -> None:
        self._data = dict(data or {})
        self.source = source  # the operator's directory, None for the shipped templates

    def data(self, language: str) -> dict[str, Any]:
        return self._data.get(language) or shipped(language)


@functools.cache
def _shipped_set() -> TemplateSet:
    return TemplateSet()


def load_templates(directory: Path | str | None) -> TemplateSet:
    """The shipped templates, overridden from ``directory`` (None: shipped only).

    Raises :class:`TemplateError` naming every problem (file, key, line) at once.
    """
    if directory is None:
        return _shipped_set()
    root = Path(directory)
    if not root.is_dir():
        raise TemplateError(f"template directory {root} does not exist")
    problems: list[str] = []
    data: dict[str, dict[str, Any]] = {}
    for path in sorted(root.iterdir()):
        if path.suffix not in (".yaml", ".yml") or not path.is_file():
            continue
        if path.stem not in LANGUAGES:
            problems.append(f"{path}: unknown language {path.stem!r}; known: "
                            f"{', '.join(LANGUAGES)} (files are named <language>.yaml)")
            continue
        try:
            override = yaml.safe_load(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            problems.append(f"{path}: not readable YAML: {exc}")
            continue
        data[path.stem] = _merge(path.stem, path, override, problems)
    if problems:
        raise TemplateError("message templates: " + "; ".join(problems))
    return TemplateSet(data, root)
