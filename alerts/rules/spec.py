"""A rule declared once: :class:`RuleSpec`, everything the rest of heatwatch needs to know
about one rule, in the rule's own module.

Each rule module ends with ``RULES: tuple[RuleSpec[Any], ...]``; :mod:`alerts.rules` collects
those of every module in the package, and from them

* :mod:`alerts.config` builds the rules file's ``RuleSet`` (one block per rule, the
  declared parameter model, its defaults and field descriptions);
* :class:`~alerts.rules.screen.Screen` composes the declared pre-screens;
* the engine evaluates the declared verdicts (station rules), keeps the declared fields and
  rate histories, and the API and routing learn names and families;
* tests hold every rule to its sample-file section, its messages in every language and its
  pre-screen against its verdict (``tests/alerts/rules/test_rule_declarations.py``).

Rules keep no state and never see alerts (Prometheus' split between the expression and the
alerting rule): a verdict is a pure function of ``(now, window, rules, names)``, so each can be
tested on a scripted :class:`~alerts.window.StationWindow` without an engine, a store or a
clock. Zone, flat and global rules (``zone_cold``, ``pipeline_down``, ...) are stepped by the
engine from their own inputs; their declaration carries no station verdict but the same
parameters, messages and documentation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from alerts.model import Scope, Verdict
from alerts.params import FieldNames, RuleParams
from alerts.rules.regime import heating_paused
from alerts.schedule import heating_on, in_setback, planned_off
from alerts.window import FieldState, StationWindow

if TYPE_CHECKING:
    from alerts.config import RuleSet

__all__ = ["FieldsOf", "Lookback", "Onset", "PlotPanel", "Prescreen", "Published", "RuleSpec",
           "ScreenContext", "ScreenFactory", "StationVerdict", "number"]

P = TypeVar("P", bound=RuleParams)

StationVerdict = Callable[[float, StationWindow, "RuleSet", FieldNames], Verdict]
"""``(now, window, effective rule set, field names) -> Verdict``: a station rule's verdict."""

Prescreen = Callable[[StationWindow, float, "ScreenContext"], bool]
"""``(window, now, context) -> could the verdict be FIRE``; see :class:`RuleSpec`."""

ScreenFactory = Callable[["RuleSet", FieldNames], Prescreen]
"""Builds a rule's pre-screen for one effective rule set (parameters read once, here)."""

FieldsOf = Callable[["RuleSet", FieldNames], Iterable[str]]
Lookback = Callable[["RuleSet"], "float | None"]


class Published(Protocol):
    """What a station (or zone) published at one instant, as the detection benchmark replays
    it (``bench/detection.py``): raw values, no window, no regimes."""

    @property
    def season(self) -> bool:
        """In the heating season of the rules' schedule."""

    @property
    def setback(self) -> bool:
        """Inside the night setback of the rules' schedule."""

    def number(self, name: str) -> float:
        """The published value of a field (NaN when not published)."""

    def flag(self, name: str) -> bool:
        """The published value of a boolean field."""

    def fall(self, name: str, window_s: float) -> float | None:
        """How fast the field fell over ``window_s`` up to now, per minute (None until the
        samples span half of it): the same arithmetic as the engine's rings."""

    def flats_below(self, threshold: float) -> tuple[int, int]:
        """A zone's sample: (flats under ``threshold``, flats reporting a plausible indoor
        temperature)."""


Onset = Callable[[Published, "RuleSet", FieldNames], bool]
"""``(published, rules, names) -> threshold met``: see :class:`RuleSpec`."""


def _nothing(rules: RuleSet, names: FieldNames) -> tuple[str, ...]:
    return ()


class PlotPanel(StrEnum):
    """The series that show why a rule's alerts fired (``RuleSpec.plot``). The backtest plot
    (:mod:`alerts.backtest.plot`) draws a station's panel when one of its enabled rules
    declares it and labels the rule's alerts there; the station dashboard
    (:mod:`dashboards.station`) names on each panel the rules it explains."""

    TEMPERATURES = "temperatures"  # secondary supply and return, and the reference
    PRIMARY = "primary"  # primary supply and return, heat power
    PRESSURE = "pressure"  # gauge pressures, the make-up tank
    MAKEUP = "makeup"  # make-up water against the circulating flow
    FLOW = "flow"  # circulating flow, the pump
    INDOOR = "indoor"  # flats' indoor temperatures


@dataclass(frozen=True, slots=True)
class RuleSpec(Generic[P]):
    """One rule, declared.

    * ``name``, ``family`` (``outage``, ``leak``, ``sensor``, ...) and ``scope``: what its
      alerts are about. ``order`` places it among the rules (the engine's evaluation order at
      a station, the rules file's blocks, listings); new rules keep the default and follow
      the shipped ones by name.
    * ``model``: its parameter model, a :class:`~alerts.params.RuleParams` subclass whose
      defaults are the shipped settings (``Field(description=...)`` documents them); its
      block in the rules file is ``defaults.<name>`` (overridable per zone and station),
      or the top-level ``section`` for a rule with one global setting (``pipeline``).
      ``alerts/rules.sample.yaml`` documents every parameter (checked by a test).
    * ``verdict``: a station rule's pure verdict; None for a rule the engine steps itself.
    * ``screen``: builds its pre-screen, the cheap "could the verdict be FIRE right now" the
      engine asks for every station with new data before running any verdict. One-sided:
      True for a window whose verdict is not FIRE only costs its full evaluation, False for
      one whose verdict is FIRE loses an alert (the property test holds it exact). Written
      for speed: parameters read in the factory, fields read as ``window.fields.get(name)``
      and :func:`number`; the context has the clock and the secondary circuit's numbers.
      A station rule without one is evaluated for every station with new data.
    * ``reads``: the telemetry fields its verdict can read beyond
      :class:`~alerts.params.FieldNames` (the engine keeps the latest value of those only),
      ``rates``: the fields whose recent samples it needs (a ring of ``history_len`` per
      station), ``lookback``: how far back in them it looks, in seconds (warm-up reads that
      much history; the event-driven replay wakes when a sample leaves it); both empty / None
      under a rule set where it keeps no samples (a rule disabled by default costs nothing).
    * ``onset``: the rule's threshold on one published sample (no hold, hysteresis or regime
      gates): when a simulated fault first became detectable by the rule, from which the
      detection benchmark measures its time to detect (against ``for_s``).
    * ``plot``: the panel of series that shows why it fired (:class:`PlotPanel`); None for a
      rule with no series of its own (an outage shows as a gap in all of them, a sensor
      rule's field varies): its alerts are labelled on the first panel.
    * Messages: ``rules.<name>`` (the title) and ``lines.<name>`` (one line with the key
      figures from the verdict's value and annotations) in every ``alerts/templates/*.yaml``.
    """

    name: str
    family: str
    model: type[P]
    scope: Scope = Scope.STATION
    order: int = 1000
    verdict: StationVerdict | None = None
    screen: ScreenFactory | None = None
    reads: FieldsOf = _nothing
    rates: FieldsOf = _nothing
    lookback: Lookback | None = None
    section: str | None = None
    onset: Onset | None = None
    plot: PlotPanel | None = None

    def params(self, rules: RuleSet) -> P:
        """This rule's parameters inside an effective (zone/station resolved) rule set."""
        params: P = getattr(rules, self.name)  # no cast(): a call on every verdict
        return params

    def evaluate(
        self, now: float, window: StationWindow, rules: RuleSet, names: FieldNames
    ) -> Verdict:
        """The rule's verdict for one station at ``now`` (station rules only)."""
        if self.verdict is None:
            raise TypeError(f"{self.name} is stepped by the engine, not per station")
        return self.verdict(now, window, rules, names)

    @property
    def messages(self) -> tuple[str, str]:
        """Its keys in every message template: the title and the line."""
        return f"rules.{self.name}", f"lines.{self.name}"

    @property
    def layered(self) -> bool:
        """Its parameters are a block of the per zone/station ``RuleSet``."""
        return self.section is None


def _no_field(name: str) -> FieldState | None:
    return None


def number(state: FieldState | None) -> float | None:
    """:meth:`StationWindow.number` on a field state (finite numbers; bools are not)."""
    if state is None:
        return None
    v = state.value
    if type(v) is float:
        return v if v - v == 0.0 else None  # x - x is 0.0 exactly when x is finite
    if isinstance(v, bool | str):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


class ScreenContext:
    """What the pre-screens of one effective rule set share per window: the heating clock
    (worked out once per ``now``), ``get`` (the window's ``fields.get``) and the secondary
    circuit's flow, supply and return as numbers (read once per window; None when absent or
    not a finite number)."""

    __slots__ = ("_breaks", "_until", "flow", "get", "heating", "heating_on", "names", "now",
                 "planned_off", "ret", "rules", "setback", "supply")

    def __init__(self, rules: RuleSet, names: FieldNames) -> None:
        from alerts.due import ScheduleBreaks  # due reads the rules' declarations

        self.rules, self.names, self.heating = rules, names, rules.heating
        self.now = math.nan
        self.heating_on = self.setback = self.planned_off = False
        self._breaks = ScheduleBreaks(rules)
        self._until = -math.inf
        self.flow: float | None = None
        self.supply: float | None = None
        self.ret: float | None = None
        self.get: Callable[[str], FieldState | None] = _no_field

    def clock(self, now: float) -> None:
        """The schedule's state at ``now``, worked out again only past the next breakpoint
        of the schedule (:class:`~alerts.due.ScheduleBreaks`: every configured time of day,
        local midnight, UTC-offset change), between which it cannot change: a replay asks at
        a new instant for almost every reading."""
        if self.now <= now < self._until:
            self.now = now
            return
        self.now = now
        self.heating_on = heating_on(now, self.heating)
        self.setback = in_setback(now, self.heating)
        self.planned_off = planned_off(now, self.heating)
        self._until = self._breaks.after(now)

    def paused(self, window: StationWindow, now: float) -> bool:
        """:func:`~alerts.rules.regime.heating_paused`, with the planned-off test cached."""
        return self.planned_off or heating_paused(now, window, self.rules, self.names)


def spec_list(*specs: RuleSpec[Any]) -> tuple[RuleSpec[Any], ...]:
    """A module's ``RULES`` (typed as the registry wants it)."""
    return specs
