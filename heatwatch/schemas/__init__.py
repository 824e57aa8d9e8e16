"""JSON Schemas of the wire format, shipped as package data.

This is a regular package, not a bare folder, so setuptools' package discovery includes it and
its ``*.json`` files (``[tool.setuptools.package-data]``) land in the wheel; they are read with
:mod:`importlib.resources`, which works from a wheel, a zip or a source checkout alike.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import orjson

from heatwatch.wirefields import Kind

__all__ = ["SCHEMA_RESOURCE", "load_schema"]

SCHEMA_RESOURCE = "wire-v1.schema.json"
_ROOTS = {Kind.TELEMETRY: "telemetryPayload", Kind.METER: "meterPayload"}


def load_schema(kind: Kind) -> dict[str, Any]:
    """The draft 2020-12 JSON Schema of a telemetry or meter payload (an object or an array of
    objects), as a fresh dict the caller may change. Status payloads are plain text, so there
    is no schema for them (``ValueError``)."""
    if kind not in _ROOTS:
        raise ValueError(f"no JSON Schema for {kind.value} payloads (they are plain text)")
    raw = resources.files(__name__).joinpath(SCHEMA_RESOURCE).read_bytes()
    schema: dict[str, Any] = orjson.loads(raw)
    schema.pop("anyOf", None)  # the file's root accepts either kind
    schema["$ref"] = f"#/$defs/{_ROOTS[kind]}"
    schema["title"] = f"heatwatch wire v1 {kind.value} payload"
    return schema
