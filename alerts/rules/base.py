"""What a rule is: a pure function from recent data to a :class:`~alerts.model.Verdict`.

Rules keep no state and never see alerts (Prometheus' split between the expression and the
alerting rule), so each can be tested on a scripted :class:`~alerts.window.StationWindow`
without an engine, a store or a clock.
"""

from __future__ import annotations

import abc
from typing import ClassVar

from alerts.config import FieldNames, RuleParams, RuleSet
from alerts.model import Signal, Verdict
from alerts.window import StationWindow

__all__ = ["StationRule", "band"]


class StationRule(abc.ABC):
    """A rule evaluated per station whenever that station has new data (or on a sweep)."""

    name: ClassVar[str]
    family: ClassVar[str]

    @abc.abstractmethod
    def params(self, rules: RuleSet) -> RuleParams:
        """This rule's parameters inside an effective (zone/station resolved) rule set."""

    @abc.abstractmethod
    def evaluate(
        self, now: float, window: StationWindow, rules: RuleSet, names: FieldNames
    ) -> Verdict:
        """The rule's verdict for one station at ``now``."""


def band(fire: bool, clear: bool) -> Signal:
    """Hysteresis in one place: FIRE beats CLEAR; neither means we are inside the band."""
    if fire:
        return Signal.FIRE
    if clear:
        return Signal.CLEAR
    return Signal.HOLD
