"""Lifecycle invariants on random signal sequences (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.config import RuleParams
from alerts.lifecycle import Subject, step
from alerts.model import AlertState, EventKind, Scope, Signal, Track, Verdict

SUBJECT = Subject("demo", "s1", Scope.STATION, "s1", "z")
signals = st.lists(
    st.tuples(st.sampled_from(list(Signal)), st.floats(min_value=0.5, max_value=400)),
    min_size=1, max_size=80,
)
params_st = st.builds(
    RuleParams,
    for_s=st.sampled_from([0.0, 30.0, 300.0]),
    keep_firing_for_s=st.sampled_from([0.0, 60.0]),
    flap_window_s=st.sampled_from([120.0, 1800.0]),
    flap_threshold=st.integers(min_value=2, max_value=8),
)

# which event may follow which, per alert
NEXT = {
    None: {EventKind.PENDING, EventKind.FIRING},
    EventKind.PENDING: {EventKind.FIRING, EventKind.CANCELLED},
    EventKind.FIRING: {EventKind.FLAPPING, EventKind.RESOLVED},
    EventKind.FLAPPING: {EventKind.STABLE},
    EventKind.STABLE: {EventKind.FLAPPING, EventKind.RESOLVED},
}


@settings(max_examples=300, deadline=None)
@given(script=signals, params=params_st)
def test_every_alert_follows_the_state_machine(
    script: list[tuple[Signal, float]], params: RuleParams
) -> None:
    track = Track("demo", "s1")
    now = 0.0
    last_kind: dict[str, EventKind | None] = {}
    last_seq: dict[str, int] = {}
    for signal, gap in script:
        now += gap
        for event in step(track, Verdict(signal), now, params, SUBJECT):
            alert = event.alert
            prev = last_kind.get(alert.id)
            assert event.kind in NEXT[prev], (prev, event.kind)
            assert event.seq == last_seq.get(alert.id, 0) + 1
            last_kind[alert.id], last_seq[alert.id] = event.kind, event.seq
            if event.kind is EventKind.FIRING:
                assert now - alert.active_at >= params.for_s
            if event.kind is EventKind.RESOLVED:
                assert not alert.flapping and alert.fired_at is not None
        open_ids = [i for i, k in last_kind.items()
                    if k not in (EventKind.RESOLVED, EventKind.CANCELLED)]
        assert len(open_ids) <= 1  # one alert per (rule, subject)
        if track.alert is not None:
            assert track.alert.state is not AlertState.RESOLVED
            assert open_ids == [track.alert.id]
