"""``plot_backtest`` on a synthetic history in a real InfluxDB: the panels follow the series a
station reports, and the reference line is the one ``supply_below_curve`` judged by."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import httpx
import matplotlib.pyplot as plt
import pytest
from alert_helpers import T0, healthy, registry, telemetry

from alerts.backtest import backtest
from alerts.backtest.plot import backtest_figure, break_gaps, plot_backtest
from alerts.config import RulesConfig
from alerts.history import HistorySource
from alerts.schedule import curve_setpoint
from heatwatch.lineproto import to_line
from heatwatch.local.servers import InfluxServer
from heatwatch.settings import InfluxSettings
from heatwatch.wire import Reading

pytestmark = pytest.mark.servers

REG = registry("scada", "learned", "plant", zone="north", interval=60.0)
END = T0 + 7200
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CALIBRATED = [{"outdoor_c": -15.0, "supply_c": 70.0}, {"outdoor_c": 10.0, "supply_c": 40.0}]
# Helsinki (the default zone) is UTC+2 in January: 15:00-16:00 local is 13:00-14:00 UTC, the
# planned-off window the last 10 minutes of the period.
RULES = RulesConfig.model_validate({
    "defaults": {"heating": {"setback_start": "15:00", "setback_end": "16:00", "setback_k": 10,
                             "off_windows": [{"start": "15:50", "end": "16:00"}]}},
    "stations": {"learned": {"supply_below_curve": {"calibrated_curve": CALIBRATED}}},
})


def setpoint_at(k: int) -> float:
    """The scada station's controller target: 60 °C, cut to 45 °C for the second hour."""
    return 60.0 if k < 60 else 45.0


def outdoor_at(k: int) -> float:
    return -5.0 + 0.1 * k  # -5 °C warming to +7 °C over the two hours


def history() -> list[Reading]:
    out: list[Reading] = []
    for k in range(120):
        t = T0 + 60 * k
        # Real SCADA: setpoint, primary temperatures, heat power; no pressures, flows, make-up.
        out.append(telemetry("scada", t, supply_temp=setpoint_at(k) - 1.0, return_temp=40.0,
                             outdoor_temp=outdoor_at(k), supply_setpoint=setpoint_at(k),
                             primary_supply_temp=95.0, primary_return_temp=55.0,
                             heat_power=300.0 + k))
        # No setpoint, a calibrated curve; supply falls 20 K under it in the second hour.
        curve = curve_setpoint(outdoor_at(k), RULES.params_for("north", "learned")
                               .supply_below_curve.calibrated_curve or ())
        supply = curve - (20.0 if k >= 60 else 0.0)
        out.append(telemetry("learned", t, supply_temp=supply, return_temp=supply - 10.0,
                             outdoor_temp=outdoor_at(k)))
        # A fully instrumented plant: pressures, flow and make-up water too.
        out.append(healthy("plant", t, makeup_flow=0.05))
    return out


@pytest.fixture
def source(influx: InfluxServer, database: str) -> Any:
    body = "\n".join(to_line(r, REG.zone_of(r.station)) for r in history())
    resp = httpx.post(f"{influx.url}/write", params={"db": database, "precision": "ns"},
                      content=body.encode(), timeout=30)
    assert resp.status_code == 204, resp.text
    src = HistorySource(InfluxSettings(url=influx.url, database=database))
    yield src
    src.close()


def lines(ax: Any) -> dict[str, list[float]]:
    """Legend label -> y values of the axis's labelled lines."""
    return {ln.get_label(): [float(y) for y in ln.get_ydata()] for ln in ax.get_lines()
            if not ln.get_label().startswith("_")}


def minutes(ax: Any, label: str) -> list[float]:
    ln = next(ln for ln in ax.get_lines() if ln.get_label() == label)
    return [(t.timestamp() - T0) / 60 for t in ln.get_xdata()]


def test_setpoint_station_gets_its_panels_and_its_setpoint(source: HistorySource) -> None:
    result = backtest(RULES, source, T0, END, registry=REG, station="scada")
    fig = backtest_figure(result, source, rules=RULES, registry=REG, stations=["scada"])
    try:
        # temperatures, primary with heat power on a twin axis; no pressure or make-up boxes
        assert [ax.get_ylabel() for ax in fig.axes] == ["°C", "°C", "kW"]
        temps, primary, power = fig.axes
        got = lines(temps)
        assert set(got) == {"supply", "return", "reference: controller setpoint",
                            "reference - 5 K (fires below)"}
        # the reference follows the setpoint, night cut included and not cut again by setback
        assert got["reference: controller setpoint"] == [setpoint_at(k) for k in range(120)]
        assert got["reference - 5 K (fires below)"] == [setpoint_at(k) - 5 for k in range(120)]
        assert set(lines(primary)) == {"primary supply", "primary return"}
        assert lines(power)["heat power"][:2] == [300.0, 301.0]
        assert "station scada" in temps.get_title(loc="left")
        assert "2026-01-15 12:00" in temps.get_title(loc="left")
        assert "scada" in fig.texts[0].get_text()  # the suptitle names station and period
        legend = [t.get_text() for t in primary.get_legend().get_texts()]
        assert legend == ["primary supply", "primary return", "heat power"]
        off = [p for p in temps.patches if p.get_label() == "planned off"]
        assert len(off) == 1  # 15:50-16:00 Helsinki, shaded once
    finally:
        plt.close(fig)


def test_calibrated_station_draws_its_curve_with_setback(source: HistorySource) -> None:
    result = backtest(RULES, source, T0, END, registry=REG, station="learned")
    assert [a.rule for a in result.alerts] == ["supply_below_curve"]
    fig = backtest_figure(result, source, rules=RULES, registry=REG, stations=["learned"])
    try:
        assert [ax.get_ylabel() for ax in fig.axes] == ["°C"]  # nothing but temperatures
        got = lines(fig.axes[0])
        assert "reference: default curve" not in got
        assert "reference: controller setpoint" not in got
        ref = got["reference: calibrated curve"]
        calibrated = RULES.params_for("north", "learned").supply_below_curve.calibrated_curve
        assert calibrated is not None
        want = [curve_setpoint(outdoor_at(k), calibrated) - (10.0 if k >= 60 else 0.0)
                for k in range(120)]  # setback 13:00-14:00 UTC lowers the curve 10 K
        assert ref == pytest.approx(want)
        assert minutes(fig.axes[0], "reference: calibrated curve") == list(range(120))
        # the alert is shaded: one span per alert on the temperature panel, besides the night
        fired = [p for p in fig.axes[0].patches if p.get_label() != "planned off"
                 and p.get_fill()]
        assert len(fired) == 1
    finally:
        plt.close(fig)


def test_default_curve_and_full_instrumentation(source: HistorySource, tmp_path: Path) -> None:
    result = backtest(RULES, source, T0, END, registry=REG, station="plant")
    fig = backtest_figure(result, source, rules=RULES, registry=REG, stations=["plant"])
    try:
        # temperatures, primary (no heat power: no twin), pressures, make-up share, flow: the
        # panels the enabled rules declare (RuleSpec.plot), each with data
        assert [ax.get_ylabel() for ax in fig.axes] == ["°C", "°C", "bar", "%", "m³/h"]
        curve = lines(fig.axes[0])["reference: default curve"]
        assert curve[0] == pytest.approx(curve_setpoint(-10.0, RULES.defaults
                                                        .supply_below_curve.curve))
        assert curve[-1] == pytest.approx(curve[0] - 10.0)  # inside the setback
        assert lines(fig.axes[3])["make-up / flow"][0] == pytest.approx(0.5)
    finally:
        plt.close(fig)
    png = plot_backtest(result, source, tmp_path / "all.png", rules=RULES, registry=REG,
                        stations=["scada", "learned", "plant", "nobody"])
    assert png.read_bytes()[:8] == PNG_MAGIC


def test_panels_are_the_ones_the_enabled_rules_declare(source: HistorySource) -> None:
    """Without the rules that read make-up water and flow, their panels are not drawn."""
    rules = RulesConfig.model_validate({**RULES.model_dump(mode="json"), "defaults": {
        **RULES.model_dump(mode="json")["defaults"],
        "makeup_surge": {"enabled": False}, "pump_stopped": {"enabled": False}}})
    result = backtest(rules, source, T0, END, registry=REG, station="plant")
    fig = backtest_figure(result, source, rules=rules, registry=REG, stations=["plant"])
    try:
        assert [ax.get_ylabel() for ax in fig.axes] == ["°C", "°C", "bar"]
    finally:
        plt.close(fig)


def test_an_alert_is_labelled_on_the_panel_its_rule_declares(source: HistorySource) -> None:
    """makeup_surge declares the make-up panel: its label goes there, not on the first one
    (the plant's make-up is 0.5 % of its flow; a 0.4 % limit makes it fire)."""
    data = RULES.model_dump(mode="json")
    data["defaults"]["makeup_surge"] = {"ratio": 0.004, "recover_ratio": 0.003}
    rules = RulesConfig.model_validate(data)
    result = backtest(rules, source, T0, END, registry=REG, station="plant")
    assert [a.rule for a in result.alerts] == ["makeup_surge"]
    fig = backtest_figure(result, source, rules=rules, registry=REG, stations=["plant"])
    try:
        labels = [[t.get_text() for t in ax.texts] for ax in fig.axes]
        assert [ax.get_ylabel() for ax in fig.axes][3] == "%"  # the make-up panel
        assert labels[3] == ["makeup_surge"]
        assert all("makeup_surge" not in texts for i, texts in enumerate(labels) if i != 3)
    finally:
        plt.close(fig)


def test_summer_has_no_reference(influx: InfluxServer, database: str) -> None:
    """Outside the heating season the rule judges nothing, so no reference line is drawn."""
    summer = dt.datetime(2026, 7, 15, 12, 0, tzinfo=dt.UTC).timestamp()
    body = "\n".join(to_line(telemetry("scada", summer + 60 * k, supply_temp=30.0,
                                       return_temp=28.0, supply_setpoint=20.0), "north")
                     for k in range(30))
    resp = httpx.post(f"{influx.url}/write", params={"db": database, "precision": "ns"},
                      content=body.encode(), timeout=30)
    assert resp.status_code == 204
    src = HistorySource(InfluxSettings(url=influx.url, database=database))
    try:
        result = backtest(RULES, src, summer, summer + 1800, registry=REG, station="scada")
        fig = backtest_figure(result, src, rules=RULES, registry=REG, stations=["scada"])
    finally:
        src.close()
    try:
        got = lines(fig.axes[0])
        assert set(got) == {"supply", "return"}
        assert not any(math.isnan(v) for v in got["supply"])
    finally:
        plt.close(fig)


def test_lines_break_at_outages_only() -> None:
    """An hourly station's buckets stay one line; two hours and more without data break it."""
    t0 = dt.datetime(2026, 1, 15, tzinfo=dt.UTC)
    hours = [0, 1, 2, 5, 6]
    cols: dict[str, list[Any]] = {"time": [t0 + dt.timedelta(hours=h) for h in hours],
                                  "supply": [50.0, 51.0, 52.0, 53.0, 54.0]}
    broken = break_gaps(cols, 7200.0)
    assert broken["supply"] == [50.0, 51.0, 52.0, None, 53.0, 54.0]
    assert broken["time"][3] == t0 + dt.timedelta(hours=2, seconds=1)
