"""``station_offline`` after a restart, with the warm-up from the real InfluxDB: a station the
warm-up knows keeps its silence timer (no start-up grace), one it knows nothing about gets the
grace, and a history where most of the fleet is silent (a host reboot: broker, collector and
engine down together) is not believed."""

from __future__ import annotations

import httpx
import pytest
from alert_helpers import T0, Clock, healthy, quiet_rules, registry

from alerts.engine import Engine
from alerts.history import HistorySource
from alerts.store import Store
from alerts.warmup import warm_up
from heatwatch.lineproto import to_line
from heatwatch.local.servers import InfluxServer
from heatwatch.settings import InfluxSettings
from heatwatch.wire import Reading

pytestmark = pytest.mark.servers

NOW = T0 + 3600.0  # the restart
GRACE = 300.0


def write(influx: InfluxServer, database: str, readings: list[Reading]) -> None:
    body = "\n".join(to_line(r, "north") for r in readings)
    resp = httpx.post(f"{influx.url}/write", params={"db": database, "precision": "ns"},
                      content=body.encode(), timeout=30)
    assert resp.status_code == 204, resp.text


def offline_after_restart(influx: InfluxServer, database: str, stations: tuple[str, ...],
                          live: tuple[str, ...], until: float) -> list[tuple[str, float]]:
    """Warm a fresh engine (real start-up grace, pipeline_down on) from InfluxDB at ``NOW``,
    then evaluate every second to ``NOW + until`` with ``live`` reporting every 10 s;
    returns (station, seconds after the restart) of each station_offline that fired."""
    engine = Engine(quiet_rules(pipeline={"startup_grace_s": GRACE}), Store(":memory:"),
                    Clock(NOW), registry=registry(*stations), receivers=())
    src = HistorySource(InfluxSettings(url=influx.url, database=database))
    report = warm_up(engine, src, NOW)
    src.close()
    assert report.error is None
    fired: list[tuple[str, float]] = []
    for k in range(int(until) + 1):
        now = NOW + k
        if k % 10 == 5:
            for station in live:
                engine.observe(healthy(station, now), now)
        fired += [(e.alert.station or "", e.ts - NOW) for e in engine.evaluate(now)
                  if e.alert.rule == "station_offline" and e.kind.value == "firing"]
    return fired


def test_station_silent_before_restart_fires_at_its_timeout(influx: InfluxServer,
                                                             database: str) -> None:
    """``quiet`` (every 10 s) last reported 10 s before the restart: it fires 60 s after its
    silence began (50 s after the restart), not when the 300 s grace ends. ``never`` has no
    stored history: the grace still covers it. ``a``..``c`` report on and stay fine."""
    history: list[Reading] = []
    for k in range(60):
        t = NOW - 600 + k * 10
        history += [healthy(s, t) for s in ("a", "b", "c")]
        if t <= NOW - 10:
            history.append(healthy("quiet", t))
    write(influx, database, history)
    fired = offline_after_restart(influx, database, ("a", "b", "c", "quiet", "never"),
                                  live=("a", "b", "c"), until=GRACE + 10)
    assert fired == [("quiet", 50.0), ("never", GRACE)]


def test_mass_silence_in_the_history_keeps_the_grace(influx: InfluxServer,
                                                      database: str) -> None:
    """All six stations' last stored reading is 120 s before the restart (everything was
    down together): their silence is the pipeline's, not theirs, so nobody fires at the
    restart; the five that report again stay fine, ``dead`` fires when the grace ends."""
    stations = ("s1", "s2", "s3", "s4", "s5", "dead")
    write(influx, database, [healthy(s, NOW - 600 + k * 10) for k in range(49)
                             for s in stations])
    fired = offline_after_restart(influx, database, stations, live=stations[:5],
                                  until=GRACE + 10)
    assert fired == [("dead", GRACE)]


def test_station_long_silent_before_restart_fires_at_once(influx: InfluxServer,
                                                          database: str) -> None:
    """``gone`` stopped 10 minutes before the restart, while the five others reported up to
    it: it has been offline all along and fires at the first evaluation."""
    stations = ("s1", "s2", "s3", "s4", "s5", "gone")
    history = [healthy(s, NOW - 900 + k * 10) for k in range(90) for s in stations[:5]]
    history += [healthy("gone", NOW - 900 + k * 10) for k in range(30)]
    write(influx, database, history)
    fired = offline_after_restart(influx, database, stations, live=stations[:5], until=60)
    assert fired == [("gone", 0.0)]
