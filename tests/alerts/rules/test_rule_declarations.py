"""Every registered rule is complete: its parameters documented in ``alerts/rules.sample.yaml``
(every key of its model, at its default), its messages in every language, and for station
rules a pre-screen that agrees with its verdict on random windows.

A rule missing from the sample file fails with the section to paste (built from its model:
defaults and field descriptions), to be commented by hand.
"""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from rule_properties import WINDOW_ARGS, screen_agrees, script_for

from alerts.config import RulesConfig, RuleSet
from alerts.model import Scope
from alerts.params import RuleParams
from alerts.rules import BY_NAME, FAMILIES, RULES, STATION_RULES
from alerts.rules.screen import Screen
from alerts.rules.spec import RuleSpec
from alerts.schedule import heating_on, in_setback, planned_off
from heatwatch.wire import FieldValue

SAMPLE = Path(__file__).resolve().parents[3] / "alerts" / "rules.sample.yaml"
LANGUAGES = sorted(p.name for p in resources.files("alerts.templates").iterdir()
                   if p.name.endswith(".yaml"))


def sample_section(spec: RuleSpec[Any]) -> str:
    """What the sample file should say for ``spec``: its keys at their defaults, the
    lifecycle keys only where the rule's default differs from every rule's."""
    base = RuleParams()
    lines = [f"  {spec.name}:" if spec.layered else f"{spec.section}:"]
    indent = "    " if spec.layered else "  "
    default = spec.model().model_dump(mode="json")
    for name, info in type(spec.model()).model_fields.items():
        if name in RuleParams.model_fields and getattr(spec.model(), name) == getattr(base, name):
            continue
        value = yaml.safe_dump(default[name], default_flow_style=True, width=1000).strip()
        value = value.removesuffix("\n...").removesuffix(" ...")
        doc = f"  # {info.description}" if info.description else ""
        lines.append(f"{indent}{name}: {value}{doc}")
    return "\n".join(lines)


def documented(spec: RuleSpec[Any]) -> dict[str, Any] | None:
    data = yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))
    section = (data.get("defaults") or {}).get(spec.name) if spec.layered \
        else data.get(spec.section or "")
    return section if isinstance(section, dict) else None


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_parameters_documented_in_the_sample(name: str) -> None:
    spec = BY_NAME[name]
    section = documented(spec)
    assert section is not None, (
        f"{name} has no section in {SAMPLE.name}; add (and comment) this one:\n"
        f"{sample_section(spec)}")
    model = type(spec.model())
    base = RuleParams()
    wanted = {k for k in model.model_fields
              if k not in RuleParams.model_fields or getattr(spec.model(), k) != getattr(base, k)}
    missing = wanted - set(section)
    assert not missing, f"{name}: undocumented {sorted(missing)}:\n{sample_section(spec)}"
    # the values shown are the defaults (and valid: unknown keys fail here too)
    assert model.model_validate(section) == spec.model(), f"{name}: sample != defaults"


def test_sample_file_is_valid_and_complete() -> None:
    data = yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))
    rules = RulesConfig.model_validate(data)
    assert set(data["defaults"]) == {s.name for s in RULES if s.layered} | {"heating"}
    assert rules.defaults == RuleSet()


@pytest.mark.parametrize("language", LANGUAGES)
def test_messages_in_every_language(language: str) -> None:
    text = resources.files("alerts.templates").joinpath(language).read_text("utf-8")
    data = yaml.safe_load(text)
    for spec in RULES:
        for key in spec.messages:
            part, rule = key.split(".")
            assert isinstance(data[part].get(rule), str) and data[part][rule].strip(), \
                f"{language}: no {key}"
    declared = set(BY_NAME)
    assert set(data["rules"]) <= declared, f"{language}: titles of unknown rules"
    assert set(data["lines"]) - {"default"} <= declared, f"{language}: lines of unknown rules"


def test_registry() -> None:
    """Names unique (a dict of them), families named, station rules have verdicts, and the
    rules file has a block per layered rule in the declared order."""
    assert len(BY_NAME) == len(RULES)
    assert all(FAMILIES[s.name] for s in RULES)
    assert all(s.verdict is not None for s in STATION_RULES)
    assert list(RuleSet.model_fields) == [s.name for s in RULES if s.layered] + ["heating"]


CONFIGS = [
    RulesConfig(),
    RulesConfig.model_validate({
        "defaults": {
            "heating": {"timezone": "UTC", "setback_start": "11:00", "setback_end": "13:00",
                        "setback_k": 4},
            "pressure_drop": {"window_s": 120, "floor_bar": 1.5, "recover_bar": 1.8},
            "tank_draining": {"window_s": 60},
            "stuck_sensor": {"stuck_after_s": 30, "min_samples": 3},
            "out_of_range": {"ranges": {"outdoor_temp": {"min": -50, "max": 50},
                                        "flow": {"min": 0, "max": 20},
                                        "return_pressure": {"min": 0, "max": 16}},
                             "sentinels": [-39.9, 7.5, 327.67]},
            "return_above_supply": {"margin_k": 0.0},
            "supply_below_curve": {"curve": [{"outdoor_c": -25, "supply_c": 70},
                                             {"outdoor_c": -5, "supply_c": 52},
                                             {"outdoor_c": 12, "supply_c": 30}]},
        },
        "stations": {"s2": {"makeup_surge": {"enabled": False},
                            "pump_stopped": {"flow_min": 3.0}}},
    }),
    # heating regimes: an off window around T0 (12:00 UTC) so windows are entered, left and
    # warmed up from; short clocks so heating_not_resumed and the warm-up both end in a script
    RulesConfig.model_validate({
        "defaults": {
            "heating": {"timezone": "UTC", "off_windows": [{"start": "11:50", "end": "12:10"},
                                                           {"start": "23:00", "end": "01:00"}],
                        "warmup_s": 600, "delivering_kw": 40, "delivering_dt_k": 2.0,
                        "setback_start": "12:05", "setback_end": "12:20", "setback_k": 6},
            "heating_not_resumed": {"after_window_s": 60, "unplanned_s": 300,
                                    "max_outdoor_c": 20},
            "return_above_supply": {"primary_flow_min": 1.0},
        },
        "stations": {"s2": {"supply_below_curve": {"calibrated_curve": [
            {"outdoor_c": -10, "supply_c": 60}, {"outdoor_c": 10, "supply_c": 38}]},
            "heating": {"off_windows": []}}},
    }),
]


@settings(max_examples=600, deadline=None)
@given(data=st.data(), config=st.sampled_from(range(len(CONFIGS))), **WINDOW_ARGS)
def test_screen_flags_exactly_the_rules_that_fire(
    data: st.DataObject, config: int, station: str, design_flow: float | None,
    history_len: int, base: float, later: float, repeat: int, drift: float,
) -> None:
    """Every registered station rule: the screen's bit is set exactly when it would FIRE."""
    rules = CONFIGS[config]
    script: list[tuple[float, dict[str, FieldValue | None], bool]] = data.draw(
        script_for(rules))
    screen_agrees(rules, script, station=station, design_flow=design_flow,
                  history_len=history_len, base=base, later=later, repeat=repeat, drift=drift)


def test_screen_clock_between_schedule_breakpoints() -> None:
    """The screen works the schedule out again only past its next breakpoint: asked every 7
    minutes over three days around a DST change, a season start and setback and off windows,
    it says what the schedule functions say at each instant."""
    rules = RulesConfig.model_validate({"defaults": {"heating": {
        "timezone": "Europe/Helsinki", "season_start": "03-30", "season_end": "10-01",
        "setback_start": "22:30", "setback_end": "05:15", "setback_k": 3,
        "off_windows": [{"start": "01:00", "end": "04:00"}, {"start": "12:10", "end": "12:20"}],
    }}})
    rs = rules.params_for("north", "s1")
    screen = Screen(rs, rules.fields, STATION_RULES)
    ctx = screen.context
    t = dt.datetime(2026, 3, 28, tzinfo=dt.UTC).timestamp()  # DST starts on the 29th
    for _ in range(3 * 24 * 60 // 7):
        ctx.clock(t)
        assert (ctx.heating_on, ctx.setback, ctx.planned_off) == (
            heating_on(t, rs.heating), in_setback(t, rs.heating), planned_off(t, rs.heating)), t
        t += 420.0


def test_every_rules_plot_panel_is_drawn_and_named_on_the_station_dashboard() -> None:
    """A rule's ``plot`` declaration is all the backtest plot and the station dashboard need:
    the plot can draw the panel, and the dashboard's panel names the rule."""
    from alerts.backtest.plot import DRAWN
    from dashboards.station import station_detail

    text = " ".join(p.description for p in station_detail().panels)
    for spec in RULES:
        if spec.plot is None:
            continue
        assert spec.plot in DRAWN, spec.name
        if spec.scope is Scope.STATION:
            assert spec.name in text, f"{spec.name}: not named on the station dashboard"
