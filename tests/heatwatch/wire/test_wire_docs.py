"""docs/wire-format.md is what integrators read: its field tables, reasons and examples must
say what the code does."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from heatwatch.wire import FIELDS, Decoder, Kind, Reason
from heatwatch.wirefields import FLAG, NUMBER

DOC = (Path(__file__).parents[3] / "docs" / "wire-format.md").read_text(encoding="utf-8")
GOLDEN = Path(__file__).parent / "golden"


def _table_after(heading: str) -> dict[str, list[str]]:
    section = DOC[DOC.index(heading) :]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines()[1:]:
        if line.startswith("#"):
            break
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def _range_text(lo: float, hi: float) -> str:
    if hi >= sys.float_info.max:
        return f"≥ {lo:g}"
    return f"{lo:g} .. {hi:g}"


@pytest.mark.parametrize(
    ("kind", "heading"),
    [(Kind.TELEMETRY, "### Telemetry:"), (Kind.METER, "### Meter:")],
)
def test_field_tables_match_the_code(kind: Kind, heading: str) -> None:
    rows = _table_after(heading)
    assert list(rows) == list(FIELDS[kind])
    for name, spec in FIELDS[kind].items():
        required, unit, valid, _meaning = rows[name]
        assert (required == "yes") == spec.required, name
        assert unit == spec.unit, name
        if spec.check == NUMBER:
            assert valid == _range_text(spec.lo, spec.hi), name
        elif spec.check == FLAG:
            assert valid == "true/false or 0/1", name


def test_every_reason_is_documented() -> None:
    rows = _table_after("## Rejections")
    assert set(rows) == {reason.value for reason in Reason}


def test_documented_lines_come_from_golden_files() -> None:
    golden_lines = {
        line
        for path in GOLDEN.glob("*.lp")
        for line in path.read_text(encoding="utf-8").splitlines()
        if not line.startswith("#")
    }
    documented = re.findall(r"^(?:telemetry|meter|station_status),\S+ \S+ \d+$", DOC, re.M)
    assert len(documented) >= 8
    assert set(documented) <= golden_lines


def test_documented_dead_letter_record_is_real() -> None:


    payload = (GOLDEN / "telemetry_mixed_batch.json").read_bytes()
    decoded = Decoder(clock=lambda: 1795953600.0).decode("heat/S-01/telemetry", payload)
    record = decoded.rejections[0].to_json().decode()
    assert f"\n{record}\n" in DOC
