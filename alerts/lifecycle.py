"""Turn a rule's verdicts into alert state: inactive -> pending -> firing -> resolved.

This is Prometheus' ``AlertingRule.Eval`` state machine (``for``, ``keep_firing_for``) plus two
things Prometheus leaves to Alertmanager or does not do:

* hysteresis: rules report ``HOLD`` between the trigger and the recovery threshold, and HOLD
  never changes state, so an alert needs the *recovery* threshold to resolve (and a pending
  alert fires only on a FIRE verdict once its hold time has passed);
* flapping: every FIRE<->CLEAR change of the signal is a flip, remembered across incidents
  (:class:`~alerts.model.Track`); with ``flap_threshold`` flips inside ``flap_window_s`` the
  alert is marked flapping and held firing until the signal has been steady for a whole window,
  so crews get one alert instead of a fire/resolve storm.

``step`` is pure apart from mutating the track it is given, and takes ``now`` explicitly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from alerts.config import RuleParams
from alerts.model import (
    Alert,
    AlertEvent,
    AlertState,
    EventKind,
    Scope,
    Signal,
    Track,
    Verdict,
    fingerprint,
)

__all__ = ["Subject", "emit", "new_alert_id", "step"]


@dataclass(frozen=True, slots=True)
class Subject:
    """Who an alert is about, so the lifecycle can label a new alert without a lookup."""

    rule: str
    subject: str
    scope: Scope
    station: str | None = None
    zone: str | None = None


def new_alert_id(rule: str, subject: str, active_at: float) -> str:
    """Deterministic id: the same replayed input yields the same ids (and idempotency keys)."""
    return f"{fingerprint(rule, subject)}-{round(active_at * 1000):x}"


def emit(alert: Alert, kind: EventKind, ts: float) -> AlertEvent:
    """Bump the alert's sequence and snapshot it into an event."""
    alert.seq += 1
    snapshot = dataclasses.replace(alert, annotations=dict(alert.annotations))
    return AlertEvent(kind=kind, ts=ts, alert=snapshot, seq=alert.seq)


def _note_flip(track: Track, signal: Signal, now: float, window: float) -> None:
    if signal is not Signal.HOLD and signal is not track.signal:
        track.flips.append(now)
        track.signal = signal
    while track.flips and track.flips[0] <= now - window:
        track.flips.popleft()


def _refresh(alert: Alert, verdict: Verdict) -> None:
    if verdict.signal is Signal.FIRE:
        alert.value = verdict.value
        alert.summary = verdict.summary or alert.summary
        alert.annotations = dict(verdict.annotations) or alert.annotations


def step(
    track: Track, verdict: Verdict, now: float, params: RuleParams, subject: Subject,
    data_ts: float | None = None,
) -> list[AlertEvent]:
    """Advance one (rule, subject) by one evaluation; return the transitions it made.

    ``data_ts`` is the time of the newest reading the verdict was judged on (station rules;
    None when the verdict is replayed because time alone moved, or for rules not judged on
    readings). A hold then has to be seen in the data, not only on the clock: a pending alert
    fires once readings ``for_s`` apart both said FIRE. A station that reports every hour
    cannot show a condition that held for 30 minutes with one reading, and a single odd hourly
    sample (the one taken while a controller switches off) would otherwise fire after the hold
    with nothing more seen; a station reporting every 10 s fires at most one interval later.
    """
    if data_ts is not None:
        track.data_ts = data_ts
    _note_flip(track, verdict.signal, now, params.flap_window_s)
    signal = verdict.signal
    alert = track.alert
    events: list[AlertEvent] = []

    if alert is None:
        if signal is not Signal.FIRE:
            return events
        alert = Alert(
            id=new_alert_id(subject.rule, subject.subject, now),
            rule=subject.rule,
            subject=subject.subject,
            scope=subject.scope,
            station=subject.station,
            zone=subject.zone,
            state=AlertState.PENDING,
            severity=verdict.severity or params.severity,
            active_at=now,
        )
        _refresh(alert, verdict)
        track.alert = alert
        track.data_since = data_ts
        if params.for_s > 0:
            events.append(emit(alert, EventKind.PENDING, now))
            return events

    if alert.state is AlertState.PENDING:
        if signal is Signal.CLEAR:
            alert.state = AlertState.RESOLVED
            alert.resolved_at = now
            track.alert = None
            events.append(emit(alert, EventKind.CANCELLED, now))
            return events
        _refresh(alert, verdict)
        if verdict.severity is not None:
            alert.severity = verdict.severity
        # Fire only on a FIRE verdict: HOLD keeps a pending alert pending (missing data does not
        # cancel it) but must not promote it, or a short excursion followed by a value in the
        # hysteresis band would fire after the hold time without the condition being met.
        if signal is not Signal.FIRE or now - alert.active_at < params.for_s:
            return events
        if (track.data_since is not None and track.data_ts is not None
                and track.data_ts - track.data_since < params.for_s):
            return events  # the clock says long enough, the readings do not yet
        alert.state = AlertState.FIRING
        alert.fired_at = now
        events.append(emit(alert, EventKind.FIRING, now))
        # fall through: a flapping signal can already be flapping at the moment it fires

    # FIRING
    _refresh(alert, verdict)
    if signal is Signal.FIRE:
        alert.keep_since = None
        if verdict.severity is not None and verdict.severity is not alert.severity:
            alert.severity = verdict.severity
            events.append(emit(alert, EventKind.SEVERITY, now))
    elif signal is Signal.CLEAR and alert.keep_since is None:
        alert.keep_since = now

    if not alert.flapping and len(track.flips) >= params.flap_threshold:
        alert.flapping = True
        events.append(emit(alert, EventKind.FLAPPING, now))
    elif alert.flapping and not track.flips:
        alert.flapping = False
        events.append(emit(alert, EventKind.STABLE, now))

    if (
        alert.keep_since is not None
        and not alert.flapping
        and now - alert.keep_since >= params.keep_firing_for_s
    ):
        alert.state = AlertState.RESOLVED
        alert.resolved_at = now
        alert.keep_since = None
        track.alert = None
        events.append(emit(alert, EventKind.RESOLVED, now))
    return events
