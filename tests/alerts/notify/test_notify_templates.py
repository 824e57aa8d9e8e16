"""Message templates: zh and en say what is wrong with the key figures, since when in local
time, and link to the alert; every shipped rule has its own line in both languages."""

from __future__ import annotations

import pytest
from notify_recorder import alert, item, resolved

from alerts.model import EventKind, Severity
from alerts.notify.base import Notification
from alerts.notify.render import Renderer
from alerts.notify.templates import shipped
from alerts.rules import FAMILIES

COLD = {"flats_affected": "37", "flats_total": "120", "min_indoor_c": "14.2",
        "median_indoor_c": "17.1", "standard_c": "18"}
NOT_RESUMED = {"why": "after_window", "window_end": "05:00", "outdoor_c": "-3.2"}
SETPOINT = {"setpoint_c": "47.5", "outdoor_c": "1.0", "reference": "setpoint"}
CALIBRATED = {"setpoint_c": "52.0", "outdoor_c": "-4.0", "reference": "calibrated"}
COLLAPSED = {"makeup_flow": "0.5", "design_flow": "10", "circulating_flow": "0.01"}
CASES = {
    "en": [
        (alert("heating_not_resumed", value=7200.0, annotations=NOT_RESUMED),
         "no heat delivered for 120 min, not back after the planned off window ended 05:00 "
         "(-3.2 °C outside on average)"),
        (alert("heating_not_resumed", value=36000.0, annotations={"why": "unplanned"}),
         "no heat delivered for 600 min, outside any planned off window"),
        (alert("supply_below_curve", value=38.2, annotations=SETPOINT),
         "supply 38.2 °C, the controller setpoint is 47.5 °C at 1.0 °C outside"),
        (alert("supply_below_curve", value=41.0, annotations=CALIBRATED),
         "supply 41.0 °C, its calibrated curve wants 52.0 °C at -4.0 °C outside"),
        (alert(value=0.05, annotations=COLLAPSED),
         "make-up 5.0 % of design flow (0.5 of 10 m³/h, circulation collapsed)"),
        (alert(), "make-up 4.2 % of circulating flow (0.42 of 10 m³/h)"),
        (alert("pressure_drop", value=1.1, annotations={"fall_bar_per_10min": "0.3"}),
         "pressure 1.1 bar falling 0.3 bar/10 min"),
        (alert("zone_cold", None, value=0.31, annotations=COLD, severity=Severity.WARNING),
         "37 of 120 flats below 18 °C, min 14.2 °C, median 17.1 °C"),
    ],
    "zh": [
        (alert("heating_not_resumed", value=7200.0, annotations=NOT_RESUMED),
         "已 120 分钟未供热, 计划停热时段于 05:00 结束后仍未恢复 (室外平均 -3.2 °C)"),
        (alert("supply_below_curve", value=38.2, annotations=SETPOINT),
         "供水 38.2 °C, 室外 1.0 °C 时控制器设定值 47.5 °C"),
        (alert(value=0.05, annotations=COLLAPSED),
         "循环已中断, 补水量为设计流量的 5.0 % (0.5 / 10 m³/h)"),
        (alert(), "补水量为循环流量的 4.2 % (0.42 / 10 m³/h)"),
        (alert("pressure_drop", value=1.1, annotations={"fall_bar_per_10min": "0.3"}),
         "压力 1.1 bar, 每 10 分钟下降 0.3 bar"),
        (alert("zone_cold", None, value=0.31, annotations=COLD, severity=Severity.WARNING),
         "120 户中 37 户室温低于 18 °C, 最低 14.2 °C, 中位数 17.1 °C"),
    ],
}


@pytest.mark.parametrize("language", ["en", "zh"])
def test_key_figures_local_time_and_link(language: str) -> None:
    r = Renderer(language, external_url="https://hw.example/", timezone="Asia/Shanghai")  # type: ignore[arg-type]
    for a, words in CASES[language]:
        out = r.render(Notification.single(item(a)))
        for body in (out.text, out.markdown, out.html):
            assert words in body, (words, body)
            assert "2026-01-15 20:00" in body  # 12:00 UTC, local time
            assert f"https://hw.example/#/alerts/{a.id}" in body
        assert a.subject in out.title


def test_titles_and_resolved() -> None:
    en, zh = Renderer("en"), Renderer("zh")
    done = item(resolved(alert(), alert().active_at + 1800), EventKind.RESOLVED)
    assert en.render(Notification.single(done)).title == (
        "[RESOLVED] Make-up water surge (possible leak) – zone north – S-01")
    assert zh.render(Notification.single(done)).title == (
        "[已恢复] 补水量异常 (疑似泄漏) - 片区 north - S-01")
    assert "ended 2026-01-15 12:30" in en.render(Notification.single(done)).text


def test_html_is_escaped() -> None:
    a = alert("no_such_rule", annotations={})
    a.summary = "<script>x</script>"
    html = Renderer("en").render(Notification.single(item(a))).html
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_every_rule_has_words_in_both_languages() -> None:
    en, zh = shipped("en"), shipped("zh")
    for data in (en, zh):
        assert set(FAMILIES) <= set(data["rules"]) and set(FAMILIES) <= set(data["lines"])
    assert set(en["words"]) == set(zh["words"])
    for rule in FAMILIES:  # renders without the rule's annotations too ("?" for a figure)
        for lang in ("en", "zh"):
            line = Renderer(lang).what(alert(rule, annotations={}))
            assert line and "{{" not in line


def test_odd_values_never_break_a_message() -> None:
    r = Renderer("en")
    a = alert(value=None, annotations={"makeup_flow": "n/a", "circulating_flow": "0"})
    assert r.what(a) == "make-up ? of circulating flow (n/a of 0 m³/h)"
    cold = alert("zone_cold", None, annotations={"flats_total": "x"})
    assert "of x flats" in r.what(cold)
