"""The state machine on scripted signals, without rules or an engine."""

from __future__ import annotations

from collections.abc import Sequence

from alerts.config import RuleParams
from alerts.lifecycle import Subject, step
from alerts.model import AlertState, EventKind, Scope, Severity, Signal, Track, Verdict

SUBJECT = Subject("demo", "s1", Scope.STATION, "s1", "north")
F, H, C = Verdict(Signal.FIRE), Verdict(Signal.HOLD), Verdict(Signal.CLEAR)


def run(params: RuleParams, script: Sequence[tuple[float, Verdict]]) -> list[tuple[float, str]]:
    track = Track("demo", "s1")
    out = []
    for t, verdict in script:
        out += [(t, e.kind.value) for e in step(track, verdict, t, params, SUBJECT)]
    return out


def test_for_pending_then_firing_then_resolved() -> None:
    params = RuleParams(for_s=60)
    assert run(params, [(0, F), (30, F), (60, F), (90, F), (120, C)]) == [
        (0, "pending"), (60, "firing"), (120, "resolved"),
    ]


def test_pending_cancelled_when_condition_clears_before_for() -> None:
    params = RuleParams(for_s=60)
    assert run(params, [(0, F), (30, C), (40, F), (100, F)]) == [
        (0, "pending"), (30, "cancelled"), (40, "pending"), (100, "firing"),
    ]


def test_for_zero_fires_at_once() -> None:
    assert run(RuleParams(), [(0, F), (10, C)]) == [(0, "firing"), (10, "resolved")]


def test_keep_firing_for_bridges_short_gaps() -> None:
    params = RuleParams(keep_firing_for_s=60)
    script = [(0, F), (10, C), (50, F), (60, C), (100, C), (120, C)]
    assert run(params, script) == [(0, "firing"), (120, "resolved")]


def test_hold_band_never_resolves_and_never_starts() -> None:
    params = RuleParams()
    assert run(params, [(0, H), (10, H)]) == []
    assert run(params, [(0, F), (10, H), (20, H), (30, C)]) == [(0, "firing"), (30, "resolved")]


def test_hold_keeps_pending_but_only_fire_promotes() -> None:
    """HOLD (band or missing data) keeps a pending alert pending; it fires on the first FIRE
    after the hold time, and a CLEAR cancels it: a short excursion that then sits in the
    hysteresis band never fires (found by bench/detection.py at the end of night setback)."""
    params = RuleParams(for_s=30)
    assert run(params, [(0, F), (20, H), (30, H)]) == [(0, "pending")]
    assert run(params, [(0, F), (20, H), (30, H), (40, F)]) == [(0, "pending"), (40, "firing")]
    assert run(params, [(0, F), (20, H), (40, C)]) == [(0, "pending"), (40, "cancelled")]


def test_flapping_alert_is_held_firing_and_marked() -> None:
    params = RuleParams(flap_threshold=4, flap_window_s=100)
    track = Track("demo", "s1")
    seen: list[tuple[float, str]] = []
    # fire/clear every 10 s: first incident resolves, second fires, then flapping holds it
    for i, t in enumerate(range(0, 80, 10)):
        verdict = F if i % 2 == 0 else C
        seen += [(t, e.kind.value) for e in step(track, verdict, t, params, SUBJECT)]
    assert seen[:3] == [(0, "firing"), (10, "resolved"), (20, "firing")]
    assert (30, "flapping") in seen
    assert track.alert is not None and track.alert.flapping
    assert track.alert.state is AlertState.FIRING
    assert [k for _, k in seen].count("resolved") == 1
    # steady clear for a whole window: stable, then resolved
    last = [(t, e.kind.value) for t in (100, 150, 171)
            for e in step(track, C, t, params, SUBJECT)]
    assert last == [(171, "stable"), (171, "resolved")]


def test_severity_change_while_firing_is_an_event() -> None:
    track = Track("demo", "s1")
    warn = Verdict(Signal.FIRE, severity=Severity.WARNING)
    crit = Verdict(Signal.FIRE, severity=Severity.CRITICAL)
    events = step(track, warn, 0, RuleParams(), SUBJECT)
    events += step(track, crit, 10, RuleParams(), SUBJECT)
    events += step(track, crit, 20, RuleParams(), SUBJECT)
    assert [e.kind for e in events] == [EventKind.FIRING, EventKind.SEVERITY]
    assert events[1].alert.severity is Severity.CRITICAL
    assert [e.seq for e in events] == [1, 2]


def test_new_incident_gets_new_id() -> None:
    track = Track("demo", "s1")
    first = step(track, F, 0, RuleParams(), SUBJECT)[0].alert.id
    step(track, C, 10, RuleParams(), SUBJECT)
    second = step(track, F, 20, RuleParams(), SUBJECT)[0].alert.id
    assert first != second


def run_data(params: RuleParams,
             script: Sequence[tuple[float, Verdict, float | None]]) -> list[tuple[float, str]]:
    """Like :func:`run`, with the reading time each verdict was judged on (None: a replay of
    the last verdict because only the clock moved, as the engine does between readings)."""
    track = Track("demo", "s1")
    out = []
    for t, verdict, data_ts in script:
        out += [(t, e.kind.value) for e in step(track, verdict, t, params, SUBJECT, data_ts)]
    return out


def test_hold_must_be_seen_in_the_readings() -> None:
    """An hourly station: one odd reading (taken while the controller switched off) starts a
    30-minute hold that the clock fills but no second reading confirms; the next reading is
    back to normal and the alert is cancelled instead of firing for half an hour."""
    params = RuleParams(for_s=1800)
    one_sample = [(0, F, 0.0), (1800, F, None), (2400, F, None), (3600, C, 3600.0)]
    assert run_data(params, one_sample) == [(0, "pending"), (3600, "cancelled")]
    # two readings an hour apart both show it: it fires with the second one
    confirmed = [(0, F, 0.0), (1800, F, None), (3600, F, 3600.0), (7200, C, 7200.0)]
    assert run_data(params, confirmed) == [(0, "pending"), (3600, "firing"),
                                           (7200, "resolved")]
    # re-judging the same reading (a sweep) is no confirmation either
    assert run_data(params, [(0, F, 0.0), (1800, F, 0.0), (2000, F, 0.0)]) == [(0, "pending")]


def test_readings_every_ten_seconds_fire_as_before() -> None:
    params = RuleParams(for_s=60)
    script = [(t, F, float(t)) for t in range(0, 90, 10)]
    assert run_data(params, script) == [(0, "pending"), (60, "firing")]
