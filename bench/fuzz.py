"""Fuzzing the wire decoder with Hypothesis: no crash, every reading stored or rejected.

tests/heatwatch/wire/test_wire_properties.py proves the decoder's properties on a few hundred
examples per run. This goes further, in volume and in kind:

* payloads a station or an attacker could send: readings with mutated fields (wrong types,
  NaN/Infinity, huge numbers, nested objects, odd keys), arrays of them, deeply nested JSON
  (a recursion bomb for naive parsers), oversized payloads, invalid UTF-8, random bytes;
* topic injection: station ids with ``+``/``#`` wildcards, ``..``, ``$SYS``, empty levels,
  unicode, NUL, very long levels and topics;
* the accounting invariant for every payload: ``len(readings) + len(rejections)`` equals the
  readings the message carried (array length, else 1), every rejection has a reason and a
  detail and serialises as a dead letter, every reading belongs to the topic's own station
  (never stored under a wrong one) and becomes valid line protocol;
* with ``--e2e N``, a sample of N generated messages goes through the real Mosquitto into the
  real collector and InfluxDB (heatwatch.local.servers): the collector's counts equal the decoder's
  and InfluxDB holds exactly the decoder's readings.

    .venv/bin/python bench/fuzz.py                   # 100,000 payloads + 2,000 end to end
    .venv/bin/python bench/fuzz.py --examples 2000 --e2e 200

tests/heatwatch/wire/test_wire_fuzz.py runs the same checks with small numbers in CI.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from heatwatch.wire import Decoded, Decoder, Kind, to_line

MAX_PAYLOAD = 65536
# Fixed at import: a strategy must draw the same way every time (Hypothesis checks that).
NOW_MS = int(time.time() * 1000) - 60_000
STATIONS = ["st-00001", "st-00002", "S_3"]
TELEMETRY_FIELDS = ["ts", "supply_temp", "return_temp", "pump_running", "seq", "flow",
                    "supply_pressure", "heat_power", "outdoor_temp", "power_ok"]
METER_FIELDS = ["ts", "indoor_temp", "supply_temp", "return_temp", "flow", "heat_energy", "seq"]

# -- strategies ------------------------------------------------------------------------------

bad_station_ids = st.sampled_from([
    "+", "#", "..", ".", "$SYS", "", " ", "st-1 ", "st/1", "ü-station", "站-1", "st\x00",
    "st-00001\n", "a" * 65, "a" * 5000, "st-00001/+", "%u", "${HOME}", "'; DROP",
])
station_ids = st.one_of(st.sampled_from(STATIONS), st.sampled_from(STATIONS),
                        st.sampled_from(STATIONS), bad_station_ids, st.text(max_size=80))
meter_ids = st.one_of(st.sampled_from(["f-1", "f_2", "F3"]), bad_station_ids)
kinds = st.sampled_from(["telemetry", "status", "meter"])


@st.composite
def topics(draw: st.DrawFn) -> str:
    """Mostly the v1 shape with a fuzzed station (or meter), sometimes anything at all."""
    shape = draw(st.integers(0, 9))
    if shape <= 6:
        kind = draw(kinds)
        station = draw(station_ids)
        if kind == "meter":
            return f"heat/{station}/meter/{draw(meter_ids)}"
        return f"heat/{station}/{kind}"
    if shape == 7:  # extra, missing or empty levels
        levels = draw(st.lists(st.sampled_from(["heat", "st-00001", "telemetry", "meter", "",
                                                "+", "#", "..", "$SYS", "f-1"]), max_size=8))
        return "/".join(levels)
    if shape == 8:  # very long topics
        return "heat/" + "x" * draw(st.integers(60, 70_000)) + "/telemetry"
    return draw(st.text(max_size=200))


json_scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 1, -1, 1e308, -1e308, 5e-324, 2**63, 2**63 - 1, -(2**63), 2**64]),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=12,
)


@st.composite
def reading_objects(draw: st.DrawFn, names: list[str]) -> dict[str, Any]:
    """A reading that is often valid and often wrong in one or two ways."""
    now_ms = NOW_MS
    obj: dict[str, Any] = {}
    for name in names:
        if draw(st.integers(0, 19)) == 0:
            continue  # a field missing
        fuzzed = draw(st.integers(0, 9)) == 0  # else a plausible value
        if name == "ts" and not fuzzed:
            obj[name] = draw(st.integers(now_ms - 86_400_000, now_ms))
        elif name in ("pump_running", "power_ok") and not fuzzed:
            obj[name] = draw(st.booleans())
        elif name == "seq" and not fuzzed:
            obj[name] = draw(st.integers(0, 10**6))
        elif name not in ("ts", "pump_running", "power_ok", "seq") and not fuzzed:
            obj[name] = draw(st.floats(0, 120))
        elif name == "ts":
            obj[name] = draw(st.one_of(
                st.integers(now_ms - 86_400_000, now_ms), st.integers(0, 2 * 10**12),
                st.sampled_from([now_ms // 1000, now_ms * 1000, -1, 10**20, "2026-11-29T12:00:00Z",
                                 "yesterday", None, now_ms + 10**9]),
                json_scalars,
            ))
        elif name in ("pump_running", "power_ok"):
            obj[name] = draw(st.one_of(st.booleans(), st.sampled_from([0, 1, 2, "true"]),
                                       json_scalars))
        elif name == "seq":
            obj[name] = draw(st.one_of(st.integers(0, 10**6), json_scalars))
        else:
            obj[name] = draw(st.one_of(st.floats(-50, 150), st.integers(-100, 200),
                                       json_values))
    for _ in range(draw(st.integers(0, 2))):  # extra fields, sane or not
        key = draw(st.one_of(st.sampled_from(["x_num", "time", "station", "zone", "_value",
                                              "a b", "é", ""]), st.text(max_size=70)))
        obj[key] = draw(json_values)
    return obj


def dumps(doc: object) -> bytes:
    """JSON as a device would write it; big integers and lone surrogates via the stdlib."""
    try:
        return orjson.dumps(doc)
    except TypeError:
        return json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _nested(depth: int, kind: int) -> bytes:
    if kind == 0:
        return b"[" * depth + b"]" * depth
    if kind == 1:
        return b'{"a":' * depth + b"1" + b"}" * depth
    return b'[{"ts": 1, "supply_temp": ' + b"[" * depth + b"]" * depth + b"}]"


@st.composite
def payloads(draw: st.DrawFn, topic: str) -> bytes:
    kind = Kind.METER if "/meter/" in topic else Kind.TELEMETRY
    names = METER_FIELDS if kind is Kind.METER else TELEMETRY_FIELDS
    shape = draw(st.integers(0, 15))
    if shape <= 5:
        return dumps(draw(reading_objects(names)))
    if shape <= 8:
        items = draw(st.lists(st.one_of(reading_objects(names), json_values), max_size=30))
        return dumps(items)
    if shape == 9:  # deeply nested: recursion bombs for naive parsers
        return _nested(draw(st.sampled_from([50, 513, 1024, 10_000, 30_000])),
                       draw(st.integers(0, 2)))
    if shape == 10:  # oversized: just over the limit, or far over
        n = draw(st.sampled_from([MAX_PAYLOAD - 10, MAX_PAYLOAD + 1, 4 * MAX_PAYLOAD]))
        body = orjson.dumps([{"ts": 1, "supply_temp": 1.0}] * (n // 28 + 1))
        return body[:n] if draw(st.booleans()) else body
    if shape == 11:  # NaN / Infinity as Python's json writes them, duplicate keys
        return draw(st.sampled_from([
            b'{"ts": 1764000000000, "supply_temp": NaN, "return_temp": 1, "pump_running": 1}',
            b'[{"ts": 1, "supply_temp": Infinity}, {"ts": 2, "supply_temp": -Infinity}]',
            b'{"ts": 1, "ts": 2, "supply_temp": 1, "supply_temp": "x"}',
            b'{"supply_temp": 1e999}', b"NaN", b"[NaN, Infinity]",
        ]))
    if shape == 12:  # status-like text
        return draw(st.sampled_from([b"online", b"OFFLINE\n", b"", b"on line", b"\xff\xfe",
                                     "离线".encode()]))
    if shape == 13:  # invalid UTF-8 inside JSON strings
        return b'{"ts": 1, "supply_temp": "\xff\xfe", "\xc3\x28": 1}'
    if shape == 14:
        return dumps(draw(json_values))
    return draw(st.binary(max_size=512))


# -- the invariant ---------------------------------------------------------------------------


def carried(topic_kind: str | None, payload: bytes) -> int:
    """How many readings a message carries, computed independently of the decoder."""
    if topic_kind is None or len(payload) > MAX_PAYLOAD or topic_kind == "status":
        return 1
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError:
        try:
            doc = json.loads(payload, parse_constant=lambda _c: math.nan)
        except (ValueError, RecursionError):
            return 1
    return len(doc) if type(doc) is list else 1


def topic_station(topic: str) -> tuple[str | None, str | None, str | None]:
    """(kind, station, meter) if the topic is a valid v1 topic, else Nones (the spec again)."""
    import re

    ident = re.compile(r"[A-Za-z0-9_-]{1,64}")
    parts = topic.split("/")
    if parts[0] != "heat" or len(parts) < 3 or not ident.fullmatch(parts[1]):
        return None, None, None
    if len(parts) == 3 and parts[2] in ("telemetry", "status"):
        return parts[2], parts[1], None
    if len(parts) == 4 and parts[2] == "meter" and ident.fullmatch(parts[3]):
        return "meter", parts[1], parts[3]
    return None, None, None


def check(topic: str, payload: bytes, decoded: Decoded) -> None:
    """Raise AssertionError if one reading is neither stored nor rejected, or misattributed."""
    kind, station, meter = topic_station(topic)
    n = len(decoded.readings) + len(decoded.rejections)
    expect = carried(kind, payload)
    assert n == expect, f"{n} verdicts for {expect} readings"
    if kind is None:
        assert not decoded.readings and decoded.rejections[0].reason == "bad_topic"
    for r in decoded.readings:
        assert r.station == station and r.meter == meter, "reading under a wrong station"
        line = to_line(r, "z")
        assert "\n" not in line and f"station={station}" in line
    for rej in decoded.rejections:
        assert rej.reason and rej.detail
        assert rej.station in (station, None)
        record = orjson.loads(rej.to_json())
        assert len(record["topic"]) <= 512 and len(record["excerpt"]) <= 200


# -- the run ---------------------------------------------------------------------------------


@dataclass
class FuzzResult:
    examples: int = 0
    crashes: int = 0
    violations: int = 0
    messages_with_readings: int = 0
    readings: int = 0
    rejections: Counter[str] = field(default_factory=Counter)
    first_failures: list[str] = field(default_factory=list)
    sample: list[tuple[str, bytes]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rejected(self) -> int:
        return sum(self.rejections.values())


def run_fuzz(examples: int, *, keep_sample: int = 0, seed: int = 1) -> FuzzResult:
    """Generate ``examples`` messages, decode and check each; failures are counted, not raised,
    so one bug does not hide the rest (Hypothesis would stop and shrink at the first)."""
    decoder = Decoder(max_payload=MAX_PAYLOAD)
    res = FuzzResult()
    every = max(1, examples // keep_sample) if keep_sample else 0

    @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def one(data: st.DataObject) -> None:
        topic = data.draw(topics())
        payload = data.draw(payloads(topic))
        res.examples += 1
        try:
            decoded = decoder.decode(topic, payload)
        except Exception as exc:  # noqa: BLE001 - counting crashes of any kind is the point
            res.crashes += 1
            if len(res.first_failures) < 5:
                res.first_failures.append(f"crash {exc!r} topic={topic[:80]!r} "
                                          f"payload={payload[:120]!r}")
            return
        try:
            check(topic, payload, decoded)
        except AssertionError as exc:
            res.violations += 1
            if len(res.first_failures) < 5:
                res.first_failures.append(f"violation {exc} topic={topic[:80]!r} "
                                          f"payload={payload[:120]!r}")
        res.readings += len(decoded.readings)
        res.messages_with_readings += bool(decoded.readings)
        res.rejections.update(str(r.reason) for r in decoded.rejections)
        if every and res.examples % every == 0 and len(res.sample) < keep_sample:
            res.sample.append((topic, payload))

    start = time.perf_counter()
    one()
    res.seconds = time.perf_counter() - start
    return res


# -- end to end ------------------------------------------------------------------------------


@dataclass
class E2EResult:
    published: int = 0
    not_publishable: int = 0
    decoder_readings: int = 0
    decoder_rejections: int = 0
    collector_readings: int = 0
    collector_rejected: int = 0
    expected_points: int = 0
    stored_points: int = 0
    foreign_points: int = 0
    dead_letters: int = 0
    broke_connection: list[str] = field(default_factory=list)


def publishable(topic: str, payload: bytes) -> bool:
    """What an MQTT client can put on the wire at all: wildcards, NUL, empty and over-long
    topics are refused client-side (and by the broker); those are decoder-level cases only."""
    raw = topic.encode("utf-8", "surrogatepass")
    return (bool(topic) and "+" not in topic and "#" not in topic
            and len(raw) < 65535 and len(payload) < 1_000_000
            and not any(_mosquitto_refuses(ord(c)) for c in topic))


def _mosquitto_refuses(cp: int) -> bool:
    """Mosquitto's UTF-8 check for topics (lib/utf8_mosq.c): it disconnects a client that
    publishes a topic with a control character, a surrogate or a non-character."""
    return (cp <= 0x1F or 0x7F <= cp <= 0x9F or 0xD800 <= cp <= 0xDFFF
            or 0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFE) == 0xFFFE)


def run_e2e(sample: Sequence[tuple[str, bytes]], work: Path,
            log: Callable[[str], None] = lambda _m: None) -> E2EResult:
    """Publish ``sample`` through real Mosquitto into a real collector and InfluxDB."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from collector.config import load_collector_settings
    from collector.service import Collector
    from heatwatch.local.servers import InfluxServer, MosquittoServer

    out = E2EResult()
    broker = MosquittoServer(work / "mosquitto")
    influx = InfluxServer(work / "influxdb")
    broker.start()
    influx.start()
    collector: Collector | None = None
    try:
        influx.create_database("fuzz")
        collector = Collector(load_collector_settings(
            None,
            mqtt={"host": broker.host, "port": broker.port, "client_id": "fuzz-collector"},
            influx={"url": influx.url, "database": "fuzz"},
            batch={"flush_interval": 0.2},
            spool={"dir": str(work / "spool")},
            dead_letter={"file": str(work / "rejected.jsonl"), "publish": False},
            metrics={"port": 0, "selfstats_interval": 0.0},
        ))
        collector.start()
        if not collector.source.wait_connected(30):
            raise SystemExit("fuzz e2e: collector did not connect")
        time.sleep(0.5)
        decoder = Decoder(max_payload=MAX_PAYLOAD)
        keys: set[tuple[str, str, str | None, int]] = set()
        extra_types: dict[str, type] = {}
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fuzz-pub",
                          protocol=mqtt.MQTTv5)
        pub.max_inflight_messages_set(100)
        pub.on_disconnect = lambda *a: log(f"e2e: publisher disconnected: {a[3]}")
        connected = threading.Event()
        pub.on_connect = lambda *_a: connected.set()
        pub.connect(broker.host, broker.port)
        pub.loop_start()
        if not connected.wait(10):  # a publish before CONNACK fails with "not connected"
            raise SystemExit("fuzz e2e: publisher got no CONNACK")
        # Topics outside the v1 shape: some match no collector filter (delivered to nobody),
        # two match heat/+/telemetry with an empty or ".." station (dead-lettered as bad_topic).
        def send(topic: str, payload: bytes) -> bool:
            """One at a time, each PUBACK awaited: a message the broker disconnects us for is
            then known exactly (counted, reconnected, left out of the expected totals)."""
            try:
                pub.publish(topic, payload, qos=1).wait_for_publish(30)
                return True
            except (RuntimeError, ValueError) as exc:
                out.broke_connection.append(f"{exc}: topic={topic[:80]!r} payload="
                                            f"{payload[:80]!r}")
            pub.loop_stop()
            connected.clear()
            pub.reconnect()
            pub.loop_start()
            connected.wait(10)
            return False

        reading = b'{"ts": 1, "supply_temp": 1, "return_temp": 1, "pump_running": true}'
        for topic in ("heat/st-00001/telemetry/x", "heat//telemetry", "heat/../telemetry",
                      "heat/st-00001"):
            send(topic, reading)
        out.decoder_rejections += 2
        # Mosquitto answers a client's publish to $SYS by dropping its connection (the next
        # publish finds it gone); it is reconnected and nothing is delivered.
        send("$SYS/heat/telemetry", reading)
        send("heat/st-00001/telemetry/x", reading)
        for topic, payload in sample:
            if not publishable(topic, payload):
                out.not_publishable += 1
                continue
            decoded = decoder.decode(topic, payload)
            # InfluxDB refuses a field whose type changes (float, then bool): such a pair is
            # a database rule, not a collector loss; keep the sample free of it.
            clash = any(extra_types.setdefault(k, type(v)) is not type(v)
                        for r in decoded.readings for k, v in r.fields.items())
            if clash:
                out.not_publishable += 1
                continue
            if topic_station(topic)[0] is None:
                continue  # no collector filter matches: never delivered (checked below)
            if not send(topic, payload):
                continue
            out.decoder_readings += len(decoded.readings)
            out.decoder_rejections += len(decoded.rejections)
            for r in decoded.readings:
                if r.kind is not Kind.STATUS:
                    keys.add((r.kind.value, r.station, r.meter, r.ts_ns))
            out.published += 1
        out.expected_points = len(keys)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            st_ = collector.stats()
            if (st_["readings"] + st_["rejected"] >= out.decoder_readings + out.decoder_rejections
                    and st_["queue_depth"] == 0):
                break
            time.sleep(0.5)
        time.sleep(1.5)  # last batch flushed
        st_ = collector.stats()
        out.collector_readings, out.collector_rejected = st_["readings"], st_["rejected"]
        out.dead_letters = st_["dead_lettered"]
        stored = 0
        for measurement, fld in (("telemetry", "supply_temp"), ("meter", "indoor_temp")):
            stored += influx.count(measurement, fld, db="fuzz")
        out.stored_points = stored
        good = "|".join(STATIONS)
        valid = f"\"station\" !~ /^({good}|[A-Za-z0-9_-]+)$/"
        out.foreign_points = influx.count("telemetry", "supply_temp", db="fuzz", where=valid)
        pub.disconnect()
        pub.loop_stop()
        log(f"e2e: published {out.published}, stored {stored} of {out.expected_points}")
    finally:
        if collector is not None:
            collector.stop(timeout=10)
        influx.stop()
        broker.stop()
    return out


# -- report ----------------------------------------------------------------------------------


def report(res: FuzzResult, e2e: E2EResult | None) -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import Row, machine, machine_table, table

    rows = [
        Row("payloads generated and decoded", res.examples, "messages", ">= 100,000"),
        Row("decoder crashes", res.crashes, "", "0", None, res.crashes == 0),
        Row("accounting violations", res.violations, "", "0", None, res.violations == 0),
        Row("readings accepted", res.readings, "readings"),
        Row("readings/messages rejected, with a reason", res.rejected, "rejections"),
        Row("decode + check rate", res.examples / res.seconds, "messages/s"),
    ]
    for reason, n in sorted(res.rejections.items(), key=lambda kv: -kv[1]):
        rows.append(Row(f"  rejected: {reason}", n, "rejections"))
    parts = [table("fuzz (decoder)", rows)]
    if e2e is not None:
        rows2 = [
            Row("sample published through Mosquitto", e2e.published, "messages"),
            Row("not publishable (wildcards, NUL, empty/huge topic)", e2e.not_publishable,
                "messages"),
            Row("collector readings == decoder readings", e2e.collector_readings, "readings",
                "== decoder", e2e.decoder_readings,
                e2e.collector_readings == e2e.decoder_readings),
            Row("collector rejections == decoder rejections", e2e.collector_rejected,
                "rejections", "== decoder", e2e.decoder_rejections,
                e2e.collector_rejected == e2e.decoder_rejections),
            Row("points in InfluxDB == distinct decoder readings", e2e.stored_points, "points",
                "== decoder", e2e.expected_points, e2e.stored_points == e2e.expected_points),
            Row("points under an invalid station id", e2e.foreign_points, "points", "0", None,
                e2e.foreign_points == 0),
            Row("dead letters written", e2e.dead_letters, "records", "== rejections",
                e2e.collector_rejected, e2e.dead_letters == e2e.collector_rejected),
            Row("publishes that lost the publisher's connection", len(e2e.broke_connection),
                "messages"),
        ]
        parts.append(table("fuzz (end to end: Mosquitto -> collector -> InfluxDB)", rows2))
    if e2e is not None and e2e.broke_connection:
        parts.append("connection lost on:\n" + "\n".join(f"- {b}" for b in
                                                         e2e.broke_connection[:5]))
    if res.first_failures:
        parts.append("first failures:\n" + "\n".join(f"- {f}" for f in res.first_failures))
    parts.append(machine_table(machine()))
    return "\n\n".join(parts)


def e2e_ok(e2e: E2EResult) -> bool:
    return (e2e.collector_readings == e2e.decoder_readings
            and e2e.collector_rejected == e2e.decoder_rejections
            and e2e.stored_points == e2e.expected_points and e2e.foreign_points == 0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=100_000)
    parser.add_argument("--e2e", type=int, default=2000, help="messages sent end to end (0: off)")
    parser.add_argument("--quick", action="store_true", help="2,000 payloads, 200 end to end")
    parser.add_argument("--write-doc", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args(argv)
    examples, sample = (2000, 200) if args.quick else (args.examples, args.e2e)
    res = run_fuzz(examples, keep_sample=sample)
    e2e = None
    if sample:
        with tempfile.TemporaryDirectory(prefix="hw-fuzz-") as tmp:
            e2e = run_e2e(res.sample, Path(tmp),
                          log=lambda m: print(m, file=sys.stderr, flush=True))
    text = report(res, e2e)
    print(text)
    if args.write_doc:
        from alertbench import write_section

        head = (f"## Fuzz\n\n`bench/fuzz.py`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
                ": Hypothesis-generated messages (fuzzed readings, arrays, nested and oversized "
                "JSON, topic injection) through the decoder, and a sample end to end.\n\n")
        write_section("fuzz-quick" if args.quick else "fuzz", head + text)
    ok = res.crashes == 0 and res.violations == 0 and (e2e is None or e2e_ok(e2e))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
