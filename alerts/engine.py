"""The alert engine: readings in, alert transitions (and queued notifications) out.

``observe`` is O(1) per reading: it updates the station's window and marks the station dirty.
``evaluate(now)`` then does work proportional to what changed, not to the fleet:

* station rules run only for stations with new data (plus a sweep of each station every
  ``full_sweep_s``, at its own phase, for conditions that move with the clock, such as the
  heating schedule),
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

import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from alerts.config import RuleParams, RulesConfig, RuleSet
from alerts.due import CLOCK_VALUED, ScheduleBreaks, ring_break, window_break
from alerts.flats import FLAT_INHIBITORS, FlatInfo, FlatState, StationView, list_cold_flats
from alerts.fleet import FleetState
from alerts.lifecycle import Subject, step
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
from alerts.rows import Batch
from alerts.rules import STATION_RULES, cold_predicted
from alerts.rules.flat import (
    FLAT_COLD_RULE,
    FLAT_SENSOR_RULE,
    flat_cold_verdict,
    flat_sensor_verdict,
)
from alerts.rules.outage import STATION_OFFLINE, offline_timeout, offline_verdict
from alerts.rules.pipeline_down import InputState, pipeline_verdict
from alerts.rules.regime import supply_reference
from alerts.rules.screen import Screen
from alerts.rules.temperature import SUPPLY_BELOW_CURVE, zone_cold_verdict
from alerts.rules.temperature import ZONE_COLD as ZONE_COLD_RULE
from alerts.schedule import heating_on, in_setback
from alerts.store import Store
from alerts.window import StationWindow
from heatwatch.registry import Registry
from heatwatch.wire import Reading

__all__ = ["Clock", "Engine", "EvaluationPass"]

Clock = Callable[[], float]
Key = tuple[str, str]
OFFLINE = "station_offline"
PIPELINE = "pipeline_down"
ZONE_COLD = "zone_cold"
FLAT_COLD = "flat_cold"
FLAT_SENSOR = "flat_sensor"
_NO_INFO = FlatInfo()
_NO_VIEW = StationView()
_RETIRED = RuleParams(enabled=False)
_RULE_BIT = {rule.name: 1 << i for i, rule in enumerate(STATION_RULES)}

log = logging.getLogger(__name__)


@dataclass(slots=True)
class EvaluationPass:
    """One :meth:`Engine.evaluate`: its instant and what it has produced so far.

    Every step of the pass writes here: the transitions it returns (``events``), the rows it
    commits in one transaction (``batch``: alerts, events, outbox), and the ``(rule, subject)``
    pairs already stepped, so that the final sweep over open alerts steps each one only once.
    """

    now: float
    batch: Batch = field(default_factory=lambda: Batch(keep_acks=True))
    events: list[AlertEvent] = field(default_factory=list)
    stepped: set[Key] = field(default_factory=set)

    @property
    def changed(self) -> bool:
        """A transition was made, or an alert row or notification queued."""
        return bool(self.events or self.batch.outbox or self.batch.alerts)


class _Plan:
    """What evaluating one station needs from the rules file, resolved once per station."""

    __slots__ = ("offline", "offline_timeout", "rules", "screen")

    def __init__(self, rules: RuleSet, screen: Screen, window: StationWindow) -> None:
        self.rules = rules
        self.screen = screen
        self.offline = STATION_OFFLINE.params(rules)
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
        record: bool = True,
    ) -> None:
        """``record=False``: evaluations write nothing to ``store`` (a backtest's throw-away
        store, read by nobody)."""
        self.rules = rules
        self.store = store
        self.clock = clock
        self.registry = registry or Registry()
        self.router = Router(
            rules.inhibit, tuple(receivers), rules.repeat_interval_s, self._open_alert
        )
        self.fleet = FleetState(rules, self.registry)
        self._tracks: dict[Key, Track] = {}
        self._track_bits: dict[str, int] = {}  # station -> bits of station rules with a track
        self._plans: dict[str, _Plan] = {}
        self._screens: dict[int, Screen] = {}  # id(RuleSet) -> its screen
        self._offline_floor = min(
            STATION_OFFLINE.params(s).min_timeout_s
            for s in (rules.defaults, *rules.zones.values(), *rules.stations.values())
        )
        self._by_id: dict[str, Key] = {}
        self._input = InputState()
        self._data_version = -1
        self._private = str(store.path) == ":memory:"  # nobody else can write to it
        self._record = record
        self._open: dict[str, int] = {}  # rule -> open (pending or firing) alerts
        self._started_at: float | None = None
        self._resumed_at = -math.inf
        # for next_due: when each station / zone was last evaluated, the next instant its
        # sweep could matter (cached until it is evaluated again), and when the offline hold
        # or the offline timers' origin last changed (every station's verdict may move then)
        self._evaluated_at: dict[str, float] = {}
        self._zone_evaluated_at: dict[str, float] = {}
        self._station_due: dict[str, tuple[float, float, float, float, float]] = {}
        self._breaks: dict[int, ScheduleBreaks] = {}  # id(RuleSet) -> its breakpoints
        self._hold: tuple[bool, bool] | None = None  # (everyone, the grace's stations)
        self._grace = False  # this evaluation: the start-up grace holds some stations
        self._epoch = -math.inf
        self._changed = False  # the last evaluation made a transition or enqueued something
        self.idle = False  # the last evaluation was evaluate_readings' idle path
        self._forecast: cold_predicted.Cycle | None = None  # observed, not yet stepped
        self._forecast_issued: float | None = None  # the last cycle's issue time
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

    # -- queries ----------------------------------------------------------------------------

    def has_open(self, rule: str) -> bool:
        """Whether an alert of ``rule`` is open (pending or firing)."""
        return self._open.get(rule, 0) > 0

    def is_open(self, rule: str, subject: str) -> bool:
        """Whether ``rule`` has an open alert (pending or firing) on ``subject``."""
        track = self._tracks.get((rule, subject))
        return track is not None and track.alert is not None

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
        self.idle = False
        if self._started_at is None:
            self._started_at = now
            self._resumed_at = self._history_floor(now)
        self._sync_external(now)
        ev = EvaluationPass(now)
        self.router.prune_windows(now)

        input_down = self._evaluate_pipeline(ev)
        in_grace = now < self._started_at + self.rules.pipeline.startup_grace_s
        warm = self._resumed_at < self._started_at  # history believed: grace per station
        hold_offline = input_down or self._reconnecting(now) or (in_grace and not warm)
        self._grace = in_grace and warm and not hold_offline
        fleet = self.fleet
        hold = (hold_offline, self._grace)
        if hold != self._hold:
            if self._hold is not None and any(self._hold):
                # (partly) lifted: the wills that came meanwhile are judged now
                fleet.dirty.update(s for s, w in fleet.windows.items() if w.status_offline)
            self._hold = hold
            self._new_epoch(now)
        fleet.sweep_slice(now, since)
        for station in fleet.dirty:
            self._evaluate_station(fleet.windows[station], hold_offline, ev)
        if not hold_offline:
            self._scan_offline(ev)
        for zone in fleet.dirty_zones:
            rs = self.rules.params_for(zone)
            self._zone_evaluated_at[zone] = now
            zc = ZONE_COLD_RULE.params(rs)
            if zc.enabled:
                verdict = zone_cold_verdict(now, fleet.zones[zone], rs)
                subject = Subject(ZONE_COLD, zone, Scope.ZONE, zone=zone)
                self._step(subject, verdict, zc, ev)
        fleet.dirty.clear()
        fleet.dirty_zones.clear()
        self._evaluate_forecast(ev)
        self._evaluate_flats(ev)

        self._advance_rest(ev)
        self._changed = ev.changed
        if self._record:
            self.store.commit(ev.batch)
        return ev.events

    def observe_forecast(self, cycle: cold_predicted.Cycle) -> None:
        """One forecast cycle's risks (forecast/cycle.py): ``cold_predicted`` is stepped for
        them at the next evaluation."""
        self._forecast = cycle

    def _evaluate_forecast(self, ev: EvaluationPass) -> None:
        cycle, self._forecast = self._forecast, None
        if cycle is None and self._forecast_issued is None:
            return
        if cycle is not None:
            self._forecast_issued = cycle.issued_at
        name = cold_predicted.NAME
        if cycle is None and not self.has_open(name):
            return  # the common pass: nothing new, nothing open to age out
        open_subjects = [(k[1], t.alert.scope) for k, t in self._tracks.items()
                         if k[0] == name and t.alert is not None]
        for target, verdict, params in cold_predicted.steps(
                ev.now, cycle, self._forecast_issued,
                lambda zone, station: self.rules.params_for(zone, station), open_subjects):
            subject = Subject(name, target.subject, target.scope, target.station, target.zone)
            self._step(subject, verdict, params, ev)

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
        if (started is None or self._changed or fleet.dirty or fleet.dirty_zones
                or fleet.flats.dirty):
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
        due = min(due, self._stations_due(now, step_s, started))
        due = min(due, max(now, fleet.flats.next_timer()))  # a flat's hold ends
        for zone in fleet.zones:
            rs = self.rules.params_for(zone)
            if ZONE_COLD_RULE.params(rs).enabled:
                t0 = self._zone_evaluated_at.get(zone, now)
                b = self._schedule_breaks(rs).after(t0)
                due = min(due, max(now, fleet.next_zone_sweep(max(b - step_s, t0))))
        return due

    def _stations_due(self, now: float, step_s: float, started: float) -> float:
        """:meth:`next_due` of the per-station timers: offline, pipeline silence, sweeps.

        Each station's instants are cached until it is evaluated again, its offline track
        comes or goes, or the offline hold changes (:meth:`_new_epoch`): between readings a
        replay asks about the same unchanged stations over and over.
        """
        due = math.inf
        p = self.rules.pipeline
        fleet = self.fleet
        pipeline = p.enabled and len(fleet) >= p.min_stations
        quiet_at: list[float] = []  # when each station's silence reaches silent_after_s
        silent_at: list[float] = []  # ... and its own pipeline threshold
        cache = self._station_due
        for station, window in fleet.windows.items():
            hit = cache.get(station)
            if hit is None:
                hit = cache[station] = self._station_instants(window, now, step_s, started)
            offline, scanned, quiet, silent, sweep = hit
            if now < offline < due:
                due = offline
            if now < scanned < due:
                due = scanned
            if sweep < due:
                due = max(sweep, now)
            if pipeline:
                quiet_at.append(quiet)
                silent_at.append(silent)
        if pipeline:
            due = min(due, self._pipeline_due(now, due, started, quiet_at, silent_at))
        return due

    def _station_instants(self, window: StationWindow, now: float, step_s: float,
                          started: float) -> tuple[float, float, float, float, float]:
        """(offline timeout, offline scan, pipeline quiet, pipeline silent, sweep) instants
        of one station, as they stand since its last evaluation (``inf``: none)."""
        plan = self._plans.get(window.station) or self._plan(window)
        p = self.rules.pipeline
        last = window.seen_at
        offline = scanned = math.inf
        track = self._tracks.get((OFFLINE, window.station))
        # A track without an open alert (a resolved one whose flips still count for flapping)
        # times out like no track at all.
        if plan.offline.enabled and (track is None or track.alert is None):
            floor = self._floor(last)
            since = floor if last is None or last < floor else last
            offline = since + plan.offline_timeout
            if window.status_offline:
                scanned = since + self._offline_floor  # where the offline scan picks it up
        quiet = started if last is None or last < started else last
        silent = quiet + max(p.silent_intervals * window.report_interval_s, p.silent_after_s)
        sweep = self._station_sweep_due(window, plan.rules, now, step_s)
        return offline, scanned, quiet + p.silent_after_s, silent, sweep

    def _pipeline_due(self, now: float, due: float, started: float, quiet_at: list[float],
                      silent_at: list[float]) -> float:
        """When the silent count (:meth:`FleetState.count_silent`) next matters: at every change
        while pipeline_down has a track, else when it reaches the fire threshold."""
        p = self.rules.pipeline
        if (PIPELINE, GLOBAL_SUBJECT) in self._tracks:
            return min((t for t in (*quiet_at, *silent_at) if t > now), default=math.inf)
        need = math.ceil(p.silent_share * len(self.fleet))
        # A station counts only once its own threshold has passed, so the count cannot
        # reach ``need`` before the need-th smallest threshold; with stations in order of
        # arrival it does right then. Otherwise (order changed by a warm-up, say) search on.
        ordered = sorted(silent_at)
        first = ordered[need - 1] if 0 < need <= len(ordered) else math.inf
        first = max(first, now)
        if first >= due:
            return math.inf
        if first > now and self.fleet.count_silent(first, p, started) >= need:
            return first
        for t in sorted(t for t in (*quiet_at, *silent_at) if first < t < due):
            if self.fleet.count_silent(t, p, started) >= need:
                return t
        return math.inf

    def _station_sweep_due(self, window: StationWindow, rs: RuleSet, now: float,
                           step_s: float) -> float:
        """The first sweep of ``window``'s station that may see something its last
        evaluation did not: a schedule or rate-window breakpoint, or a new offline hold."""
        t0 = self._evaluated_at.get(window.station)
        if t0 is None:
            return self.fleet.next_sweep(window.station, now)
        breaks = self._breaks.get(id(rs)) or self._schedule_breaks(rs)
        b = breaks.after(t0)
        if window.history:
            b = min(b, ring_break(window, rs, t0))
        b = min(b, window_break(window, breaks, t0))
        if self._epoch > t0:
            b = min(b, self._epoch)  # the hold changed then: the first sweep after it counts
        for rule in CLOCK_VALUED:
            if self._open.get(rule) and self._open_alert(rule, window.station) is not None:
                b = t0
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
        self._station_due.clear()

    def evaluate_readings(self, now: float, *, since: float | None = None
                          ) -> list[AlertEvent]:
        """:meth:`evaluate` at a replay tick where :meth:`next_due` (asked before the tick's
        readings were observed) named nothing at or before ``now``: only the new readings
        can change anything.

        When every station they touched is healthy (its screen says no rule may fire) with
        nothing remembered (no track, no offline will), and no pipeline or offline alert is
        open, evaluating would step nothing and change nothing: the readings only make the
        silent count smaller and the offline timers later. Then only those stations'
        screens run, and the stations count as evaluated now. Otherwise: :meth:`evaluate`.
        """
        fleet, tracks = self.fleet, self._tracks
        if (self._started_at is None or self._changed or fleet.dirty_zones
                or fleet.flats.dirty
                or not self._input.connected or (PIPELINE, GLOBAL_SUBJECT) in tracks
                or self.has_open(OFFLINE)):
            return self.evaluate(now, since=since)
        windows, plans, bits = fleet.windows, self._plans, self._track_bits
        for station in fleet.dirty:
            window = windows[station]
            if window.status_offline or station in bits or (OFFLINE, station) in tracks:
                return self.evaluate(now, since=since)
            plan = plans.get(station) or self._plan(window)
            if plan.screen.may_fire(window, now):
                return self.evaluate(now, since=since)
        for station in fleet.dirty:
            self._evaluated_at[station] = now
            self._station_due.pop(station, None)
        fleet.dirty.clear()
        fleet.sweep_done(now)
        self.idle = True
        return []

    def _reconnecting(self, now: float) -> bool:
        """Just back on the broker after losing it: the retained ``offline`` statuses that
        arrive now are mostly wills the broker fired for gateways that have not reconnected
        yet (Mosquitto fires every client's will when it shuts down), so station_offline
        waits ``reconnect_grace_s`` for their ``online`` before believing them."""
        inp = self._input
        return (inp.connected and inp.changed_at is not None
                and now < inp.changed_at + self.rules.pipeline.reconnect_grace_s)

    def _history_floor(self, now: float) -> float:
        """Where the offline timers start, decided at the first evaluation.

        Stations with readings before it (a warm-up from InfluxDB) keep their own silence:
        one silent 10 s before a restart is offline 60 s after its silence began, and only
        the stations never heard of wait for the start-up grace (``-inf``: no common floor).
        Unless most of them are silent past their pipeline threshold: everything was down
        together (a host reboot, a collector catching up), which is the pipeline's fault, not
        the stations', so the timers start now and the grace covers every station, as on a
        cold start (also the answer when nothing was heard at all).
        """
        known = [w for w in self.fleet.windows.values() if w.seen_at is not None]
        if not known:
            return now
        p = self.rules.pipeline
        if p.enabled and len(known) >= p.min_stations:
            silent = sum(
                1 for w in known if w.seen_at is not None and now - w.seen_at
                >= max(p.silent_intervals * w.report_interval_s, p.silent_after_s))
            if silent >= math.ceil(p.silent_share * len(known)):
                log.warning("%d of %d stations were already silent at the start: their"
                            " offline timers start now, after the start-up grace",
                            silent, len(known))
                return now
        self.fleet.order_by_seen()  # the offline scan walks them oldest first
        return -math.inf

    def _floor(self, last: float | None) -> float:
        """The earliest start of a station's silence timer (``last``: its last reading):
        when the input resumed, and for a station never heard of, the start."""
        resumed = self._resumed_at
        started = self._started_at
        if last is None and started is not None and started > resumed:
            return started
        return resumed

    def _evaluate_pipeline(self, ev: EvaluationPass) -> bool:
        """Step pipeline_down; True while offline alerts must be held back."""
        now = ev.now
        p = self.rules.pipeline
        if not p.enabled:
            return False
        was_open = self._open_alert(PIPELINE, GLOBAL_SUBJECT) is not None
        started = self._started_at if self._started_at is not None else now
        silent = self.fleet.count_silent(now, p, started)
        if (self._input.connected and (PIPELINE, GLOBAL_SUBJECT) not in self._tracks
                and silent < math.ceil(p.silent_share * len(self.fleet))):
            return False  # the common case: no mass silence, nothing to step
        verdict = pipeline_verdict(now, self._input, silent, len(self.fleet), p)
        subject = Subject(PIPELINE, GLOBAL_SUBJECT, Scope.GLOBAL)
        self._step(subject, verdict, p, ev)
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
                    rs, self.rules.fields, STATION_RULES)
            plan = self._plans[window.station] = _Plan(rs, screen, window)
        return plan

    def _evaluate_station(
        self, window: StationWindow, hold_offline: bool, ev: EvaluationPass
    ) -> None:
        now = ev.now
        station = window.station
        self._evaluated_at[station] = now
        self._station_due.pop(station, None)
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
                if verdict.signal is Signal.FIRE and rule.name in FLAT_INHIBITORS:
                    verdict = list_cold_flats(verdict, self.fleet.flats, station,
                                              FLAT_COLD_RULE.params(rs).standard_c)
                subject = Subject(rule.name, station, Scope.STATION, station, window.zone)
                self._step(subject, verdict, params, ev, window.last_ts)
        self._offline(window, hold_offline, ev, plan)

    def _evaluate_flats(self, ev: EvaluationPass) -> None:
        """Judge the flats worth judging (:class:`alerts.flats.FlatBook`: a reading made them
        so, or their hold timer fell due): ``flat_sensor`` first, then ``flat_cold``, whose
        message needs the flat's place in its building and what its station is doing."""
        book = self.fleet.flats
        dirty = book.due(ev.now, self._delivering)
        if not dirty:
            return
        for flat in dirty:
            self._judge_flat(flat, ev)
        dirty.clear()

    def _judge_flat(self, flat: FlatState, ev: EvaluationPass) -> None:
        now, station = ev.now, flat.station
        window = self.fleet.windows.get(station)
        zone = window.zone if window is not None else self.registry.zone_of(station)
        rs = self.rules.params_for(zone, station)
        cold, sensor = FLAT_COLD_RULE.params(rs), FLAT_SENSOR_RULE.params(rs)
        night = cold.night_standard_c
        standard = night if night is not None and in_setback(now, rs.heating) else (
            cold.standard_c)
        delivering = window.delivering if window is not None else None
        if flat.level < standard:
            self.fleet.flats.check_neighbours(flat, sensor, delivering)
        tracks = self._tracks
        if sensor.enabled:
            verdict = flat_sensor_verdict(flat, sensor)
            if verdict.signal is Signal.FIRE or (FLAT_SENSOR, flat.meter) in tracks:
                subject = Subject(FLAT_SENSOR, flat.meter, Scope.FLAT, station, zone)
                self._step(subject, verdict, sensor, ev, flat.ts)
        if cold.enabled:
            season = heating_on(now, rs.heating)
            verdict = flat_cold_verdict(now, flat, cold, standard, season, _NO_INFO, _NO_VIEW)
            if verdict.signal is Signal.FIRE:  # again, with what the message names
                verdict = flat_cold_verdict(now, flat, cold, standard, season,
                                            self._flat_info(station, flat.meter),
                                            self._station_view(now, window, rs))
            elif (FLAT_COLD, flat.meter) not in tracks:
                return
            subject = Subject(FLAT_COLD, flat.meter, Scope.FLAT, station, zone)
            self._step(subject, verdict, cold, ev, flat.ts)

    def _delivering(self, station: str) -> bool | None:
        window = self.fleet.windows.get(station)
        return window.delivering if window is not None else None

    def _station_recovered(self, station: str, ev: EvaluationPass) -> None:
        """A station alert that explained its cold flats resolved: their flat_cold alerts
        (held back by it, so never paged) close, and the flats still cold warm back: each
        pages on its own only once it stops warming (:meth:`FlatBook.due`)."""
        window = self.fleet.windows.get(station)
        zone = window.zone if window is not None else self.registry.zone_of(station)
        cold = FLAT_COLD_RULE.params(self.rules.params_for(zone, station))
        for flat in self.fleet.flats.station_recovered(station, ev.now, cold):
            if (FLAT_COLD, flat.meter) in self._tracks:
                subject = Subject(FLAT_COLD, flat.meter, Scope.FLAT, station, zone)
                self._step(subject, Verdict.clear(), cold, ev, flat.ts)

    def _flat_info(self, station: str, meter: str) -> FlatInfo:
        """The registry's floor / top floor / gable end of a flat (only for a message)."""
        entry = self.registry.get(station)
        for m in entry.meters if entry is not None else ():
            if m.id == meter:
                return FlatInfo(m.floor, m.top_floor, m.gable_end)
        return _NO_INFO

    def _station_view(self, now: float, window: StationWindow | None, rs: RuleSet
                      ) -> StationView:
        """What a cold flat's station is doing: its firing alerts that explain cold flats,
        whether it delivers heat, and its supply against the reference."""
        if window is None:
            return _NO_VIEW
        firing = tuple(r for r in FLAT_INHIBITORS
                       if (a := self._open_alert(r, window.station)) is not None
                       and a.state is AlertState.FIRING)
        names = self.rules.fields
        supply = window.number(names.supply_temp)
        ref = supply_reference(now, window, rs, names)
        deficit = None if supply is None or ref is None else ref[0] - supply
        return StationView(window.delivering, deficit, SUPPLY_BELOW_CURVE.params(rs).tolerance_k,
                           firing)

    def _offline(
        self, window: StationWindow, hold: bool, ev: EvaluationPass, plan: _Plan | None = None
    ) -> None:
        now, stepped = ev.now, ev.stepped
        plan = plan or self._plan(window)
        params = plan.offline
        key = (OFFLINE, window.station)
        if not params.enabled or key in stepped:
            return
        last = window.seen_at
        floor = self._floor(last)
        # offline_verdict's silence test with the station's timeout resolved once: a station
        # heard within it is CLEAR, and with no track there is nothing to step
        if (not window.status_offline and key not in self._tracks
                and now - (floor if last is None else max(last, floor)) < plan.offline_timeout):
            stepped.add(key)
            return
        verdict = offline_verdict(now, window, params, floor)
        if self._grace and (last is None or window.status_offline):
            hold = True  # start-up grace: never heard of, or a will (a host reboot fires all)
        if hold and verdict.signal is Signal.FIRE:
            verdict = Verdict.hold()  # grace or pipeline down: not the station's fault
        if verdict.signal is not Signal.FIRE and key not in self._tracks:
            stepped.add(key)  # what _step would do here, without building a Subject
            return
        subject = Subject(OFFLINE, window.station, Scope.STATION, window.station, window.zone)
        self._step(subject, verdict, params, ev)

    def _scan_offline(self, ev: EvaluationPass) -> None:
        now = ev.now
        plans, tracks, resumed = self._plans, self._tracks, self._resumed_at
        for window in self.fleet.silent_since(now, self._offline_floor, resumed):
            plan = plans.get(window.station)
            if (plan is not None and not window.status_offline and plan.offline.enabled
                    and (OFFLINE, window.station) not in tracks):
                # _offline's first test, inlined: a scan in a replay of hourly stations
                # passes every one of them at every evaluation
                last = window.seen_at
                floor = self._floor(last)
                since = floor if last is None or last < floor else last
                if now - since < plan.offline_timeout:
                    continue
            self._offline(window, False, ev, plan)

    def _step(
        self, subject: Subject, verdict: Verdict, params: RuleParams, ev: EvaluationPass,
        data_ts: float | None = None,
    ) -> None:
        """Advance ``subject``'s alert by ``verdict`` at ``ev.now``; its transitions, alert row
        and notifications go into ``ev``."""
        now = ev.now
        key = (subject.rule, subject.subject)
        ev.stepped.add(key)
        track = self._tracks.get(key)
        if track is None:
            if verdict.signal is not Signal.FIRE:
                return  # the common case: nothing wrong, nothing to remember
            track = self._tracks[key] = Track(subject.rule, subject.subject)
            self._note_track(key, +1)
        before = track.alert
        track.verdict = verdict
        new = step(track, verdict, now, params, subject, data_ts)
        if (before is None) is not (track.alert is None):
            self._open[subject.rule] = self._open.get(subject.rule, 0) + (
                1 if before is None else -1)
            if subject.station is not None:
                self._station_due.pop(subject.station, None)  # its sweeps may matter now
        live = track.alert or before
        if live is None:
            return
        self._by_id[live.id] = key
        batch = ev.batch
        for event in new:
            self.router.on_event(event, live, now, batch)
        if new:
            batch.alerts[live.id] = (live, track.signal)
        if track.alert is None:
            self._by_id.pop(live.id, None)
        ev.events.extend(new)
        if (subject.rule in FLAT_INHIBITORS and subject.station is not None
                and any(e.kind is EventKind.RESOLVED for e in new)):
            self._station_recovered(subject.station, ev)

    def _advance_rest(self, ev: EvaluationPass) -> None:
        """Step open alerts nobody re-evaluated; drop tracks with nothing left to remember."""
        now, batch, stepped = ev.now, ev.batch, ev.stepped
        for key, track in list(self._tracks.items()):
            if key not in stepped and track.alert is not None:
                subject = Subject(key[0], key[1], track.alert.scope, track.alert.station,
                                  track.alert.zone)
                params = self._params(track.alert)
                verdict = track.verdict or Verdict(track.signal)
                if not params.enabled:
                    verdict = Verdict.clear()  # rule switched off (or gone): close its alerts
                self._step(subject, verdict, params, ev)
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
            if key[0] == OFFLINE:
                self._station_due.pop(key[1], None)
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

        Costs one PRAGMA per evaluation when nothing changed, and nothing for a private
        ``:memory:`` store (a backtest's): no other process can write to it.
        """
        if self._private:
            return
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
            self._open[alert.rule] = self._open.get(alert.rule, 0) + 1
            self._note_track(key, +1)
            self._by_id[alert.id] = key
            if alert.station is not None and alert.state is not AlertState.RESOLVED:
                self.fleet.window(alert.station)
