"""Complaint verdicts: every finding and cause, and the texts the hotline reads out."""

from __future__ import annotations

import pytest

from households.ledger import LedgerParams
from households.verdict import Evidence, OpenAlert, StationSupply, judge

NOW = 1_800_000_000.0
H = 3600.0
NORMAL = StationSupply(supply_c=52.0, reference_c=54.0, tolerance_k=5.0, delivering=True)
SHORT = StationSupply(supply_c=40.0, reference_c=54.0, tolerance_k=5.0, delivering=True)


def flat(hours_cold: float, cold: float = 16.2, warm: float = 21.0, step: float = 300.0
         ) -> list[tuple[float, float]]:
    """A day of readings up to NOW: warm, then cold for the last ``hours_cold`` hours."""
    t, out = NOW - 25 * H, []
    while t <= NOW - 60:
        out.append((t, cold if t >= NOW - hours_cold * H else warm))
        t += step
    return out


def test_confirmed_cold_behind_a_normal_station_is_building_side() -> None:
    v = judge(Evidence(NOW, True, flat(9), NORMAL))
    assert (v.finding, v.cause, v.station_normal) == ("cold", "building", True)
    assert v.temp_c == 16.2
    assert v.hours_below_24h == pytest.approx(9.0, abs=0.1)
    assert v.text_en == ("confirmed: 16.2 °C, 9 h under 18 °C in the last 24 h, station normal: "
                         "building-side problem, crew visit requested")
    assert v.text_zh.startswith("属实：室温 16.2 °C，近24小时有 9 小时低于 18 °C")
    assert "楼内" in v.text_zh


def test_cold_behind_a_short_station_is_station_side() -> None:
    v = judge(Evidence(NOW, True, flat(5), SHORT))
    assert (v.finding, v.cause, v.station_normal) == ("cold", "station", False)
    assert v.text_en == ("confirmed: 16.2 °C, 5 h under 18 °C in the last 24 h, station supply "
                         "under its reference: station-side problem, station check requested; "
                         "ticket stays open")
    assert "换热站供水温度低于设定" in v.text_zh and "已申请检查换热站" in v.text_zh


def test_an_open_supply_alert_names_the_station_fault() -> None:
    alerts = [OpenAlert("pump_stopped", "station", "st-1", "critical"),
              OpenAlert("stuck_sensor", "station", "st-1", "warning")]
    v = judge(Evidence(NOW, True, flat(3), None, alerts))
    assert (v.finding, v.cause) == ("cold", "station")
    assert v.alerts == ("pump_stopped@st-1", "stuck_sensor@st-1")
    assert "station fault known (pump_stopped): station-side problem, being handled" in v.text_en


def test_a_sensor_alert_alone_does_not_blame_the_station() -> None:
    alerts = [OpenAlert("stuck_sensor", "station", "st-1", "warning")]
    v = judge(Evidence(NOW, True, flat(3), NORMAL, alerts))
    assert v.cause == "building"


def test_warm_sensor_keeps_the_ticket_open() -> None:
    v = judge(Evidence(NOW, True, flat(0), NORMAL))
    assert (v.finding, v.cause, v.temp_c) == ("warm", "none", 21.0)
    assert v.hours_below_24h == 0
    assert v.text_en == "sensor shows warm: 21.0 °C, station normal: ticket open for a crew visit"
    assert "工单已开启" in v.text_zh


def test_warm_now_but_cold_earlier_says_so() -> None:
    samples = [(t, 15.0 if t < NOW - 2 * H else 20.0) for t, _ in flat(0)]
    v = judge(Evidence(NOW, True, samples, NORMAL))
    assert v.finding == "warm"
    assert "20.0 °C (22 h under 18 °C in the last 24 h)" in v.text_en


def test_no_sensor_and_stale_sensor() -> None:
    v = judge(Evidence(NOW, False, [], NORMAL))
    assert (v.finding, v.cause, v.temp_c, v.hours_below_24h) == ("no_sensor", "unknown", None,
                                                                 None)
    assert v.text_en.startswith("no sensor in this flat, station normal")
    stale = [(t - 3 * H, c) for t, c in flat(9)]
    v = judge(Evidence(NOW, True, stale, None))
    assert (v.finding, v.cause, v.temp_c) == ("no_data", "unknown", None)
    assert "station state unknown" in v.text_en


def test_samples_in_any_order_and_future_ones_ignored() -> None:
    samples = [*flat(9)[::-1], (NOW + 600, 25.0)]
    v = judge(Evidence(NOW, True, samples, NORMAL))
    assert (v.finding, v.temp_c) == ("cold", 16.2)


def test_the_standard_comes_from_the_params() -> None:
    v = judge(Evidence(NOW, True, flat(9, cold=19.0), NORMAL), LedgerParams(standard_c=20.0))
    assert v.finding == "cold" and "under 20 °C" in v.text_en


def test_idle_station_is_not_normal() -> None:
    idle = StationSupply(supply_c=None, reference_c=None, delivering=False)
    assert judge(Evidence(NOW, True, flat(4), idle)).cause == "station"
    unknown = StationSupply(supply_c=None, reference_c=54.0)
    assert judge(Evidence(NOW, True, flat(4), unknown)).cause == "unknown"
