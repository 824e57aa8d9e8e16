"""The alert engine: readings in, alert transitions (and queued notifications) out.

``observe`` is O(1) per reading: it updates the station's window and marks the station dirty.
``evaluate(now)`` then does work proportional to what changed, not to the fleet:

* station rules run only for stations with new data (plus a full sweep every
  ``full_sweep_s`` for conditions that move with the clock, such as the heating schedule),
  and of those only the rules that could fire (:class:`~alerts.rules.screen.Screen`, one cheap
  pass over the window) or that have something to remember for the station (a track): for a
  healthy station without alerts no rule's ``evaluate`` runs at all;
* ``station_offline`` scans stations in order of their last reading, oldest first, and stops
  at the first one that is recent enough, so it touches only the silent few;
* ``zone_cold`` runs only for zones whose flats reported; its counts are kept incrementally;
* alerts that are open are stepped every evaluation with their last verdict, because ``for``,
  ``keep_firing_for`` and flap windows move with time alone.

The engine never reads wall time for decisions: ``now`` is passed in (event time in replay).
:meth:`Engine.next_due` says when evaluating could next change anything without new input, so
a replay evaluates only then (and after readings) instead of at every step of event time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

from alerts.config import RuleParams, RulesConfig, RuleSet
from alerts.due import ScheduleBreaks, ring_break
from alerts.fleet import Fleet
from alerts.lifecycle import Subject, emit, step
from alerts.model import (
    GLOBAL_SUBJECT,
    Alert,
    AlertEvent,
    AlertState,
    EventKind,
    Scope,
    Signal,
    Track,
    Verdict,
)
from alerts.routing import Router
from alerts.rules import STATION_RULES
from alerts.rules.outage import offline_timeout, offline_verdict
from alerts.rules.pipeline import InputState, pipeline_verdict
from alerts.rules.screen import Screen
from alerts.rules.temperature import zone_cold_verdict
from alerts.store import Batch, MaintenanceWindow, Store
from alerts.window import StationWindow
from heatwatch.registry import Registry
from heatwatch.wire import Reading

__all__ = ["Clock", "Engine"]

Clock = Callable[[], float]
Key = tuple[str, str]
OFFLINE = "station_offline"
PIPELINE = "pipeline_down"
ZONE_COLD = "zone_cold"
_RETIRED = RuleParams(enabled=False)
_RULE_BIT = {rule.name: 1 << i for i, rule in enumerate(STATION_RULES)}


class _Plan:
    """What evaluating one station needs from the rules file, resolved once per station."""

    __slots__ = ("offline", "offline_timeout", "rules", "screen")

    def __init__(self, rules: RuleSet, screen: Screen, window: StationWindow) -> None:
        self.rules = rules
        self.screen = screen
        self.offline = rules.station_offline
        self.offline_timeout = offline_timeout(window, self.offline)


class Engine:
    """Evaluate every rule for every station and zone; persist transitions in ``store``."""

    def __init__(
        self,
        rules: RulesConfig,
        store: Store,
        clock: Clock = time.time,
        *,
        registry: Registry | None = None,
        receivers: Iterable[str] = ("webhook",),
    ) -> None:
        self.rules = rules
        self.store = store
        self.clock = clock
        self.registry = registry or Registry()
        self.router = Router(
            rules.inhibit, tuple(receivers), rules.repeat_interval_s, self._open_alert
        )
        self.fleet = Fleet(rules, self.registry)
        self._tracks: dict[Key, Track] = {}
        self._track_bits: dict[str, int] = {}  # station -> bits of station rules with a track
        self._plans: dict[str, _Plan] = {}
        self._screens: dict[int, Screen] = {}  # id(RuleSet) -> its screen
        self._offline_floor = min(
            s.station_offline.min_timeout_s
            for s in (rules.defaults, *rules.zones.values(), *rules.stations.values())
        )
        self._by_id: dict[str, Key] = {}
        self._input = InputState()
        self._data_version = -1
        self._started_at: float | None = None
        self._resumed_at = -math.inf
        # for next_due: when each station / zone was last evaluated, the next instant its
        # sweep could matter (cached until it is evaluated again), and when the offline hold
        # or the offline timers' origin last changed (every station's verdict may move then)
        self._evaluated_at: dict[str, float] = {}
        self._zone_evaluated_at: dict[str, float] = {}
        self._sweep_due: dict[str, float] = {}
        self._breaks: dict[int, ScheduleBreaks] = {}  # id(RuleSet) -> its breakpoints
        self._hold: bool | None = None
        self._epoch = -math.inf
        self._changed = False  # the last evaluation made a transition or enqueued something
        self._restore()

    # -- input ------------------------------------------------------------------------------

    def observe(self, reading: Reading, received_at: float | None = None) -> None:
        """Fold one decoded reading in (O(1)); evaluation happens in :meth:`evaluate`.

        ``received_at`` (live service: arrival time on the engine's clock) decides liveness;
        without it (replay) the reading's own time does.
        """
        self.fleet.observe(reading, received_at)

    def observe_status(self, station: str, online: bool, ts: float) -> None:
        """Retained status / last will: ``offline`` fires station_offline at once."""
        self.fleet.observe_status(station, online, ts)

    def observe_input(self, connected: bool, ts: float) -> None:
        """The service reports its broker connection; a long disconnect is pipeline_down."""
        if connected != self._input.connected:
            self._input.connected = connected
            self._input.changed_at = ts

    # -- acks and maintenance ---------------------------------------------------------------

    def ack(
        self, alert_id: str, by: str, comment: str = "", now: float | None = None,
        *, assignee: str | None = None,
    ) -> Alert:
        """Acknowledge an open alert; the ack ends with the alert (a new incident is unacked).

        An ack stops repeat notifications; escalations and the resolved message still go out.
        """
        key = self._by_id.get(alert_id)
        track = self._tracks.get(key) if key else None
        alert = track.alert if track else None
        if track is None or alert is None:
            raise KeyError(f"no open alert {alert_id!r}")
        ts = self.clock() if now is None else now
        alert.acked_by, alert.ack_comment, alert.acked_at = by, comment, ts
        alert.assignee = assignee
        event = emit(alert, EventKind.ACKNOWLEDGED, ts)
        batch = Batch()
        self.router.on_event(event, alert, ts, batch)
        batch.alerts[alert.id] = (alert, track.signal)
        self.store.commit(batch)
        return alert

    def add_maintenance(
        self, scope: Scope, target: str, starts_at: float, ends_at: float,
        reason: str = "", created_by: str = "",
    ) -> MaintenanceWindow:
        window = self.store.add_window(scope, target, starts_at, ends_at, reason, created_by)
        self.router.windows.append(window)
        return window

    def remove_maintenance(self, window_id: int) -> None:
        self.store.remove_window(window_id)
        self.router.windows = [w for w in self.router.windows if w.id != window_id]

    # -- queries ----------------------------------------------------------------------------

    def open_alerts(self) -> list[Alert]:
        return [t.alert for t in self._tracks.values() if t.alert is not None]

    def _open_alert(self, rule: str, subject: str) -> Alert | None:
        track = self._tracks.get((rule, subject))
        return track.alert if track else None

    # -- evaluation -------------------------------------------------------------------------

    def evaluate(self, now: float | None = None, *, since: float | None = None) -> list[AlertEvent]:
        """Run due rules, advance every open alert, persist and return the transitions.

        ``since`` (replay only): the previous tick of a replay that skipped the evaluations
        in between because :meth:`next_due` proved them idle; sweeps then cover
        ``(since, now]`` exactly as a step-by-step replay's last tick would have.
        """
        now = self.clock() if now is None else now
        if self._started_at is None:
            self._started_at = self._resumed_at = now
        self._sync_external(now)
        batch = Batch(keep_acks=True)
        events: list[AlertEvent] = []
        stepped: set[Key] = set()
        self.router.prune_windows(now)

        input_down = self._evaluate_pipeline(now, batch, events, stepped)
        in_grace = now < self._started_at + self.rules.pipeline.startup_grace_s
        hold_offline = input_down or in_grace or self._reconnecting(now)
        fleet = self.fleet
        if hold_offline is not self._hold:
            if self._hold:  # lifted: the wills that came meanwhile are judged now
                fleet.dirty.update(s for s, w in fleet.windows.items() if w.status_offline)
            self._hold = hold_offline
            self._new_epoch(now)
        fleet.sweep_slice(now, since)
        for station in fleet.dirty:
            self._evaluate_station(fleet.windows[station], now, hold_offline, batch, events,
                                   stepped)
        if not hold_offline:
            self._scan_offline(now, batch, events, stepped)
        for zone in fleet.dirty_zones:
            rs = self.rules.params_for(zone)
            self._zone_evaluated_at[zone] = now
            if rs.zone_cold.enabled:
                verdict = zone_cold_verdict(now, fleet.zones[zone], rs)
                subject = Subject(ZONE_COLD, zone, Scope.ZONE, zone=zone)
                self._step(subject, verdict, now, rs.zone_cold, batch, events, stepped)
        fleet.dirty.clear()
        fleet.dirty_zones.clear()

        self._advance_rest(now, batch, events, stepped)
        self._changed = bool(events or batch.outbox or batch.alerts)
        self.store.commit(batch)
        return events

    # -- when evaluation is next due (replay) -------------------------------------------------

    def next_due(self, now: float, step_s: float) -> float:
        """The earliest event time after ``now`` at which :meth:`evaluate` could make a
        transition, or change state that a later one reads, without new input.

        For a replay on a grid of ``step_s`` (its ticks): with no reading in between, every
        tick before the first one at or after the answer would change nothing, so it may be
        skipped (pass ``since`` to the next :meth:`evaluate`). An answer at or before ``now``
        means the next tick. It covers: anything the last evaluation changed (the next tick),
        the start-up and reconnect graces, ``for`` / ``keep_firing_for`` / flapping of open
        alerts, repeat notifications, maintenance windows, each station's offline timeout and
        pipeline silence thresholds, and each station's and zone's sweep, which matters only
        after a clock breakpoint (:mod:`alerts.due`) or a change of the offline hold since it
        was last evaluated. O(stations + open alerts).
        """
        fleet = self.fleet
        started = self._started_at
        if started is None or self._changed or fleet.dirty or fleet.dirty_zones:
            return now
        due = math.inf

        def at(t: float) -> None:
            nonlocal due
            if now < t < due:
                due = t

        p = self.rules.pipeline
        at(started + p.startup_grace_s)
        inp = self._input
        if inp.changed_at is not None:
            at(inp.changed_at + (p.reconnect_grace_s if inp.connected
                                 else p.broker_down_after_s))
        for maintenance in self.router.windows:
            at(maintenance.starts_at)
            at(maintenance.ends_at)
        repeat = self.router.repeat_interval_s
        for track in self._tracks.values():
            alert = track.alert
            if alert is None:
                continue
            params = self._params(alert)
            if alert.state is AlertState.PENDING:
                at(alert.active_at + params.for_s)
            elif alert.state is AlertState.FIRING:
                if alert.flapping and track.flips:
                    at(track.flips[0] + params.flap_window_s)
                if alert.keep_since is not None:
                    at(alert.keep_since + params.keep_firing_for_s)
                if repeat > 0 and alert.acked_by is None and alert.last_notified_at is not None:
                    at(alert.last_notified_at + repeat)
        pipeline = p.enabled and len(fleet) >= p.min_stations
        resumed = self._resumed_at
        for station, window in fleet.windows.items():
            plan = self._plans.get(station) or self._plan(window)
            last = window.seen_at
            if plan.offline.enabled and (OFFLINE, station) not in self._tracks:
                since = resumed if last is None else max(last, resumed)
                at(since + plan.offline_timeout)
                if window.status_offline:
                    at(since + self._offline_floor)  # the offline scan picks it up
            if pipeline:
                quiet = max(started if last is None else last, started)
                at(quiet + p.silent_after_s)
                at(quiet + max(p.silent_intervals * window.report_interval_s, p.silent_after_s))
            sweep = self._sweep_due.get(station)
            if sweep is None:
                sweep = self._sweep_due[station] = self._station_sweep_due(
                    window, plan.rules, now, step_s)
            if sweep < due:
                due = max(sweep, now)
        for zone in fleet.zones:
            rs = self.rules.params_for(zone)
            if rs.zone_cold.enabled:
                t0 = self._zone_evaluated_at.get(zone, now)
                b = self._schedule_breaks(rs).after(t0)
                due = min(due, max(now, fleet.next_zone_sweep(max(b - step_s, t0))))
        return due

    def _station_sweep_due(self, window: StationWindow, rs: RuleSet, now: float,
                           step_s: float) -> float:
        """The first sweep of ``window``'s station that may see something its last
        evaluation did not: a schedule or rate-window breakpoint, or a new offline hold."""
        t0 = self._evaluated_at.get(window.station)
        if t0 is None:
            return self.fleet.next_sweep(window.station, now)
        b = min(self._schedule_breaks(rs).after(t0), ring_break(window, rs, t0))
        if self._epoch > t0:
            b = min(b, self._epoch)
        return self.fleet.next_sweep(window.station, max(b - step_s, t0))

    def _schedule_breaks(self, rs: RuleSet) -> ScheduleBreaks:
        breaks = self._breaks.get(id(rs))
        if breaks is None:
            breaks = self._breaks[id(rs)] = ScheduleBreaks(rs)
        return breaks

    def _new_epoch(self, now: float) -> None:
        """The offline hold or the offline timers' origin changed: every station's offline
        verdict may differ from its last evaluation, so its next sweep matters."""
        self._epoch = now
        self._sweep_due.clear()

    def _reconnecting(self, now: float) -> bool:
        """Just back on the broker after losing it: the retained ``offline`` statuses that
        arrive now are mostly wills the broker fired for gateways that have not reconnected
        yet (Mosquitto fires every client's will when it shuts down), so station_offline
        waits ``reconnect_grace_s`` for their ``online`` before believing them."""
        inp = self._input
        return (inp.connected and inp.changed_at is not None
                and now < inp.changed_at + self.rules.pipeline.reconnect_grace_s)

    def _evaluate_pipeline(
        self, now: float, batch: Batch, events: list[AlertEvent], stepped: set[Key]
    ) -> bool:
        """Step pipeline_down; True while offline alerts must be held back."""
        p = self.rules.pipeline
        if not p.enabled:
            return False
        was_open = self._open_alert(PIPELINE, GLOBAL_SUBJECT) is not None
        started = self._started_at if self._started_at is not None else now
        silent = self.fleet.count_silent(now, p, started)
        verdict = pipeline_verdict(now, self._input, silent, len(self.fleet), p)
        subject = Subject(PIPELINE, GLOBAL_SUBJECT, Scope.GLOBAL)
        self._step(subject, verdict, now, p, batch, events, stepped)
        is_open = self._open_alert(PIPELINE, GLOBAL_SUBJECT) is not None
        if was_open and not is_open:
            self._resumed_at = now  # offline timers restart: the silence was not theirs
            self._new_epoch(now)
        return is_open or not self._input.connected

    def _plan(self, window: StationWindow) -> _Plan:
        plan = self._plans.get(window.station)
        if plan is None:
            rs = self.rules.params_for(window.zone, window.station)
            screen = self._screens.get(id(rs))
            if screen is None:
                screen = self._screens[id(rs)] = Screen(
                    rs, self.rules.fields, [rule.name for rule in STATION_RULES])
            plan = self._plans[window.station] = _Plan(rs, screen, window)
        return plan

    def _evaluate_station(
        self, window: StationWindow, now: float, hold_offline: bool,
        batch: Batch, events: list[AlertEvent], stepped: set[Key],
    ) -> None:
        station = window.station
        self._evaluated_at[station] = now
        self._sweep_due.pop(station, None)
        plan = self._plans.get(station) or self._plan(window)
        # Only rules that could fire, or that have a track to step, need their verdict: for
        # the others it would be thrown away unseen (not FIRE and nothing remembered).
        due = plan.screen.may_fire(window, now) | self._track_bits.get(station, 0)
        if due:
            rs = plan.rules
            names = self.rules.fields
            tracks = self._tracks
            for rule in STATION_RULES:
                if not due & _RULE_BIT[rule.name]:
                    continue
                params = rule.params(rs)
                if not params.enabled:
                    continue
                verdict = rule.evaluate(now, window, rs, names)
                if verdict.signal is not Signal.FIRE and (rule.name, station) not in tracks:
                    continue  # healthy and nothing remembered, so nothing to step
                subject = Subject(rule.name, station, Scope.STATION, station, window.zone)
                self._step(subject, verdict, now, params, batch, events, stepped)
        self._offline(window, now, hold_offline, batch, events, stepped, plan)

    def _offline(
        self, window: StationWindow, now: float, hold: bool,
        batch: Batch, events: list[AlertEvent], stepped: set[Key], plan: _Plan | None = None,
    ) -> None:
        plan = plan or self._plan(window)
        params = plan.offline
        key = (OFFLINE, window.station)
        if not params.enabled or key in stepped:
            return
        if not window.status_offline and key not in self._tracks:
            # offline_verdict's silence test with the station's timeout resolved once: a
            # station heard within it is CLEAR, and with no track there is nothing to step
            last = window.seen_at
            resumed = self._resumed_at
            if now - (resumed if last is None else max(last, resumed)) < plan.offline_timeout:
                stepped.add(key)
                return
        verdict = offline_verdict(now, window, params, self._resumed_at)
        if hold and verdict.signal is Signal.FIRE:
            verdict = Verdict.hold()  # grace or pipeline down: not the station's fault
        if verdict.signal is not Signal.FIRE and key not in self._tracks:
            stepped.add(key)  # what _step would do here, without building a Subject
            return
        subject = Subject(OFFLINE, window.station, Scope.STATION, window.station, window.zone)
        self._step(subject, verdict, now, params, batch, events, stepped)

    def _scan_offline(
        self, now: float, batch: Batch, events: list[AlertEvent], stepped: set[Key]
    ) -> None:
        for window in self.fleet.silent_since(now, self._offline_floor, self._resumed_at):
            self._offline(window, now, False, batch, events, stepped)

    def _step(
        self, subject: Subject, verdict: Verdict, now: float, params: RuleParams,
        batch: Batch, events: list[AlertEvent], stepped: set[Key],
    ) -> None:
        key = (subject.rule, subject.subject)
        stepped.add(key)
        track = self._tracks.get(key)
        if track is None:
            if verdict.signal is not Signal.FIRE:
                return  # the common case: nothing wrong, nothing to remember
            track = self._tracks[key] = Track(subject.rule, subject.subject)
            self._note_track(key, +1)
        before = track.alert
        track.verdict = verdict
        new = step(track, verdict, now, params, subject)
        live = track.alert or before
        if live is None:
            return
        self._by_id[live.id] = key
        for event in new:
            self.router.on_event(event, live, now, batch)
        if new:
            batch.alerts[live.id] = (live, track.signal)
        if track.alert is None:
            self._by_id.pop(live.id, None)
        events.extend(new)

    def _advance_rest(
        self, now: float, batch: Batch, events: list[AlertEvent], stepped: set[Key]
    ) -> None:
        """Step open alerts nobody re-evaluated; drop tracks with nothing left to remember."""
        for key, track in list(self._tracks.items()):
            if key not in stepped and track.alert is not None:
                subject = Subject(key[0], key[1], track.alert.scope, track.alert.station,
                                  track.alert.zone)
                params = self._params(track.alert)
                verdict = track.verdict or Verdict(track.signal)
                if not params.enabled:
                    verdict = Verdict.clear()  # rule switched off (or gone): close its alerts
                self._step(subject, verdict, now, params, batch, events, stepped)
            alert = track.alert
            if alert is not None:
                if self.router.tick(alert, now, batch):
                    batch.alerts[alert.id] = (alert, track.signal)
            else:
                while track.flips and track.flips[0] <= now - self._flap_window(key[0]):
                    track.flips.popleft()
                if not track.flips:
                    del self._tracks[key]
                    self._note_track(key, -1)

    def _note_track(self, key: Key, delta: int) -> None:
        """Keep ``_track_bits`` (which station rules have a track per station) in step."""
        bit = _RULE_BIT.get(key[0])
        if bit is None:
            return
        bits = self._track_bits.get(key[1], 0)
        bits = bits | bit if delta > 0 else bits & ~bit
        if bits:
            self._track_bits[key[1]] = bits
        else:
            self._track_bits.pop(key[1], None)

    def _params(self, alert: Alert) -> RuleParams:
        if alert.rule == PIPELINE:
            return self.rules.pipeline
        rs = self.rules.params_for(alert.zone or "", alert.station)
        params = getattr(rs, alert.rule, None)
        # An alert restored from the store for a rule this version no longer has: disabled,
        # so it resolves (and its receivers hear so) instead of staying open for ever.
        return params if isinstance(params, RuleParams) else _RETIRED

    def _flap_window(self, rule: str) -> float:
        if rule == PIPELINE:
            return self.rules.pipeline.flap_window_s
        params = getattr(self.rules.defaults, rule, None)
        return params.flap_window_s if isinstance(params, RuleParams) else 0.0

    # -- other writers ----------------------------------------------------------------------

    def _sync_external(self, now: float) -> None:
        """Pick up acks and maintenance windows another process (the API) wrote.

        Costs one PRAGMA per evaluation when nothing changed.
        """
        version = self.store.data_version()
        if version == self._data_version:
            return
        self._data_version = version
        self.router.windows = self.store.windows(not_ended_at=now)
        for stored, _signal in self.store.open_alerts():
            key = self._by_id.get(stored.id)
            track = self._tracks.get(key) if key else None
            live = track.alert if track else None
            if live is None or live.id != stored.id:
                continue
            live.acked_by, live.ack_comment = stored.acked_by, stored.ack_comment
            live.acked_at, live.assignee = stored.acked_at, stored.assignee
            live.seq = max(live.seq, stored.seq)

    # -- restart ----------------------------------------------------------------------------

    def _restore(self) -> None:
        """Reload open alerts so a restart neither forgets nor re-announces an incident."""
        self.router.windows = self.store.windows(not_ended_at=-math.inf)
        for alert, signal in self.store.open_alerts():
            key = (alert.rule, alert.subject)
            self._tracks[key] = Track(alert.rule, alert.subject, signal=signal, alert=alert,
                                      verdict=Verdict(signal))
            self._note_track(key, +1)
            self._by_id[alert.id] = key
            if alert.station is not None and alert.state is not AlertState.RESOLVED:
                self.fleet.window(alert.station)
