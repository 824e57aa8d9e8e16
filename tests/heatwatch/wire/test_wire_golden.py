"""Golden cases: a payload file in, line protocol and rejections out.

Each case is ``golden/NAME.json`` (or ``NAME.txt`` for plain-text status payloads) plus
``golden/NAME.lp``: a line protocol file whose ``#`` comment header names the topic and lists
the expected rejections and dropped-field count, followed by the expected lines. The ``.lp``
files are valid InfluxDB input as they stand, and one test writes them all to a real InfluxDB.

After an intended change of the output, regenerate with
``HEATWATCH_UPDATE_GOLDEN=1 .venv/bin/pytest tests/heatwatch/wire/test_wire_golden.py`` and
review the diff like code.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import jsonschema
import orjson
import pytest

from heatwatch.local.servers import InfluxServer
from heatwatch.registry import Registry
from heatwatch.wire import Decoder, Kind, lines_for, load_schema

GOLDEN = Path(__file__).parent / "golden"
CLOCK = 1795953600.0  # 2026-11-29T12:00:00Z
REGISTRY = Registry.model_validate(
    {"stations": [{"id": "S-01", "zone": "north"}, {"id": "S-02", "zone": "south"}]}
)
CASES = sorted(p.stem for p in GOLDEN.glob("*.lp"))
# Cases whose JSON payload is stored completely: no rejection, no dropped field.
ACCEPTED = [
    name
    for name in CASES
    if (GOLDEN / f"{name}.json").exists()
    and "# rejected" not in (text := (GOLDEN / f"{name}.lp").read_text(encoding="utf-8"))
    and "# dropped" not in text
]


def _payload_path(name: str) -> Path:
    for ext in (".json", ".txt"):
        if (GOLDEN / f"{name}{ext}").exists():
            return GOLDEN / f"{name}{ext}"
    raise FileNotFoundError(f"golden case {name} has no payload file")


def _topic(lp_text: str) -> str:
    first = lp_text.splitlines()[0]
    assert first.startswith("# topic: "), "the first line of a golden .lp names the topic"
    return first.removeprefix("# topic: ")


def _render(topic: str, payload: bytes) -> str:
    decoded = Decoder(clock=lambda: CLOCK).decode(topic, payload)
    out = [f"# topic: {topic}"]
    out += [f"# rejected: {r.reason.value}: {r.detail}" for r in decoded.rejections]
    if decoded.dropped_fields:
        out.append(f"# dropped_fields: {decoded.dropped_fields}")
    out += lines_for(decoded, REGISTRY)
    return "\n".join(out) + "\n"


def test_there_are_golden_cases() -> None:
    assert len(CASES) >= 10
    assert len(ACCEPTED) >= 5


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    lp_path = GOLDEN / f"{name}.lp"
    expected = lp_path.read_text(encoding="utf-8")
    actual = _render(_topic(expected), _payload_path(name).read_bytes())
    if os.environ.get("HEATWATCH_UPDATE_GOLDEN"):
        lp_path.write_text(actual, encoding="utf-8")
    assert actual == expected


@pytest.mark.parametrize("name", ACCEPTED)
def test_accepted_golden_payloads_match_the_schema(name: str) -> None:
    """The JSON Schema and the decoder agree on every fully accepted golden payload."""
    topic = _topic((GOLDEN / f"{name}.lp").read_text(encoding="utf-8"))
    kind = Kind.METER if "/meter/" in topic else Kind.TELEMETRY
    jsonschema.validate(orjson.loads((GOLDEN / f"{name}.json").read_bytes()), load_schema(kind))


@pytest.mark.servers
def test_golden_lines_are_accepted_by_influxdb(influx: InfluxServer, database: str) -> None:
    """Escaping, number formats and field types are only right if a real InfluxDB takes them:
    all golden files go in as one body (so field types must agree across cases), comments
    included, and every distinct series and time becomes a point (InfluxDB merges lines with the
    same series and timestamp, which is what makes a redelivered reading harmless)."""
    body = "".join((GOLDEN / f"{name}.lp").read_text(encoding="utf-8") for name in CASES)
    resp = httpx.post(f"{influx.url}/write", params={"db": database}, content=body)
    assert resp.status_code == 204, resp.text
    points = {
        (ln.split(" ", 1)[0], ln.rsplit(" ", 1)[1])
        for ln in body.splitlines()
        if ln and not ln.startswith("#")
    }
    for measurement, field in [
        ("telemetry", "supply_temp"),
        ("meter", "indoor_temp"),
        ("station_status", "state"),
    ]:
        n = sum(series.startswith(f"{measurement},") for series, _ in points)
        assert n > 0
        assert influx.count(measurement, field, db=database) == n, measurement
