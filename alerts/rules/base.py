"""The hysteresis every rule with a recover threshold uses.

What a rule is (its declaration, :class:`~alerts.rules.spec.RuleSpec`) is in
:mod:`alerts.rules.spec`.
"""

from __future__ import annotations

from alerts.model import Signal

__all__ = ["band"]


def band(fire: bool, clear: bool) -> Signal:
    """Hysteresis in one place: FIRE beats CLEAR; neither means we are inside the band."""
    if fire:
        return Signal.FIRE
    if clear:
        return Signal.CLEAR
    return Signal.HOLD
