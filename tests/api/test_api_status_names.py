"""Status codes the API names must exist in every Starlette that ``fastapi>=0.115`` allows.

Starlette 0.48 renamed four constants after RFC 9110 (and deprecated the old names); fastapi
0.115.0 pins Starlette below 0.39, where the new names do not exist yet, so using one of them is
an AttributeError on a fresh install that resolves an older Starlette.
"""

from __future__ import annotations

import ast
from pathlib import Path

from fastapi import HTTPException

from api.errors import invalid

API = Path(__file__).resolve().parents[2] / "api"
# Added in Starlette 0.48 (RFC 9110 names); absent from the Starlette fastapi 0.115 resolves.
STARLETTE_048_ONLY = frozenset({
    "HTTP_413_CONTENT_TOO_LARGE",
    "HTTP_414_URI_TOO_LONG",
    "HTTP_416_RANGE_NOT_SATISFIABLE",
    "HTTP_422_UNPROCESSABLE_CONTENT",
})


def _status_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and node.attr.startswith("HTTP_"):
            names.add(node.attr)
        if isinstance(node, ast.alias) and node.name.startswith("HTTP_"):
            names.add(node.name)
    return names


def test_api_uses_no_status_name_newer_than_the_declared_starlette() -> None:
    used = {name: path.relative_to(API.parent).as_posix()
            for path in sorted(API.rglob("*.py")) for name in _status_names(path)}
    assert used, "the scan found no status names at all: it no longer sees the code"
    assert {n: p for n, p in used.items() if n in STARLETTE_048_ONLY} == {}


def test_invalid_is_a_422_in_fastapis_shape() -> None:
    exc = invalid("query", "start", "must be before end")
    assert isinstance(exc, HTTPException)
    assert exc.status_code == 422
    assert exc.detail == [{"loc": ["query", "start"], "msg": "must be before end",
                           "type": "value_error"}]
