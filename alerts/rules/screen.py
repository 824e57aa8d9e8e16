"""A cheap pre-check of the station rules: which of them could say FIRE for a window right now.

The engine acts on a station rule's verdict only when it is FIRE or when that (rule, station)
already has a track (an open alert or recent flips); for every other station, the healthy
majority, the verdict is thrown away. So the engine asks :meth:`Screen.may_fire` first and
runs a rule's own verdict only for the bits it returns (and for rules with a track).

Each rule declares its own pre-screen next to its verdict (``RuleSpec.screen``: the rule's
FIRE condition on the same window with the same arithmetic, parameters read once per
effective rule set instead of per rule and reading); the screen composes them and reads the
numbers several of them need (the secondary flow, supply and return) once per window. The
contract is one-sided: a bit may be set for a rule that would not fire (that only costs its
full evaluation), but a rule that would fire must never be left out;
``tests/alerts/rules/test_rule_declarations.py`` holds every registered rule's pre-screen to its
verdict on random windows. The heating-regime gates (planned off, idle, warm-up:
:mod:`alerts.rules.regime`) are asked only once a rule's own condition holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from alerts.params import FieldNames
from alerts.rules.spec import Prescreen, RuleSpec, ScreenContext, number
from alerts.window import StationWindow

if TYPE_CHECKING:
    from alerts.config import RuleSet

__all__ = ["Screen"]


class Screen:
    """The pre-screens of the station rules for one effective rule set.

    ``specs`` are the rules in the engine's order; bit ``1 << i`` stands for ``specs[i]``.
    Disabled rules never get a bit (the engine skips them anyway); a rule without a
    pre-screen always does (``always``: it is evaluated for every window).
    """

    def __init__(self, rules: RuleSet, names: FieldNames,
                 specs: Sequence[RuleSpec[Any]]) -> None:
        self.always = 0
        checks: list[tuple[int, Prescreen]] = []
        for i, spec in enumerate(specs):
            if not spec.params(rules).enabled:
                continue
            if spec.screen is None:
                self.always |= 1 << i
            else:
                checks.append((1 << i, spec.screen(rules, names)))
        self.checks = tuple(checks)
        self.context = ScreenContext(rules, names)
        self.flow, self.supply, self.return_ = names.flow, names.supply_temp, names.return_temp

    def may_fire(self, window: StationWindow, now: float) -> int:
        """Bits of the rules that may say FIRE for ``window`` at ``now`` (0: none can).

        Written for speed (every dirty station, every second): field reads are inlined as
        ``x = state.value`` with :func:`number` only off the common path (a finite float).
        """
        ctx = self.context
        if now != ctx.now:
            ctx.clock(now)
        get = ctx.get = window.fields.get
        # numbers several rules read, fetched once
        st = get(self.flow)
        v = None if st is None else st.value
        ctx.flow = v if v.__class__ is float and v - v == 0.0 else number(st)
        st = get(self.supply)
        v = None if st is None else st.value
        ctx.supply = v if v.__class__ is float and v - v == 0.0 else number(st)
        st = get(self.return_)
        v = None if st is None else st.value
        ctx.ret = v if v.__class__ is float and v - v == 0.0 else number(st)
        mask = self.always
        for bit, check in self.checks:
            if check(window, now, ctx):
                mask |= bit
        return mask
