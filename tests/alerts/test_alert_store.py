"""The alert store on its own: the idempotency key both ways, opening a database an earlier
version wrote, and the read-only connection the API reads through."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from alert_helpers import T0
from hypothesis import example, given
from hypothesis import strategies as st

from alerts.lifecycle import emit, new_alert_id
from alerts.model import (
    TIMER_ESCALATED,
    TIMER_REPEAT,
    Alert,
    AlertState,
    EventKind,
    OutboxKey,
    Scope,
    Severity,
    Signal,
    format_key,
    parse_key,
)
from alerts.notify.delivery import failure_alert
from alerts.rows import AlertFilter, Batch, EventRecord, OutboxItem
from alerts.store import Store, alert_to_dict


def firing(station: str = "s1", at: float = T0) -> Alert:
    return Alert(new_alert_id("power_loss", station, at), "power_loss", station, Scope.STATION,
                 station, "north", AlertState.FIRING, Severity.CRITICAL, at, fired_at=at)


def test_keys_have_the_documented_text() -> None:
    assert format_key(OutboxKey("a1", "firing", 3, "crew")) == "crew/a1:firing:3"
    assert format_key(OutboxKey("a1", "resolved", 4)) == "a1:resolved:4"  # the event log's
    assert format_key(OutboxKey("a1", TIMER_REPEAT, "night.2", "ops")) == "ops/a1:repeat:night.2"
    event = emit(firing(), EventKind.FIRING, T0)
    assert event.key == f"{event.alert.id}:firing:{event.seq}"
    assert parse_key(event.key, receiver=False) == event.outbox_key()


receivers = st.from_regex(r"[a-z_][a-z0-9_-]{0,15}", fullmatch=True)
route_names = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20)


@given(st.sampled_from(list(EventKind)), st.integers(0, 10**6), receivers,
       st.text(min_size=1, max_size=12).filter(lambda s: "/" not in s and ":" not in s))
def test_transition_keys_round_trip(kind: EventKind, seq: int, receiver: str,
                                    station: str) -> None:
    key = OutboxKey(new_alert_id("leak", station, T0), kind.value, seq, receiver)
    assert parse_key(format_key(key)) == key
    logged = OutboxKey(key.alert_id, kind.value, seq)
    assert parse_key(format_key(logged), receiver=False) == logged


@given(st.sampled_from([TIMER_ESCALATED, TIMER_REPEAT]), route_names, receivers)
@example(TIMER_ESCALATED, "x:firing:1", "crew")  # a name that ends like a transition's key
@example(TIMER_REPEAT, "", "crew")
def test_timer_keys_round_trip_whatever_the_route_is_called(timer: str, route: str,
                                                            receiver: str) -> None:
    key = OutboxKey(new_alert_id("leak", "s1", T0), timer, route, receiver)
    assert parse_key(format_key(key)) == key


def test_key_of_a_failure_alert_holds_the_failed_rows_key() -> None:
    """A ``notification_failed`` alert's id contains the given-up row's key (``/`` and
    ``:`` included); its own rows' keys still parse back to it."""
    alert = firing()
    failed_row = format_key(OutboxKey(alert.id, TIMER_ESCALATED, "boss", "crew"))
    item = OutboxItem(failed_row, "crew", EventKind.FIRING, T0, alert)
    failure = failure_alert(item, "HTTP 500", T0 + 60)
    event = emit(failure, EventKind.FIRING, T0 + 60)
    to_fallback = event.outbox_key("ops")
    assert parse_key(format_key(to_fallback)) == to_fallback
    assert parse_key(event.key, receiver=False).alert_id == failure.id


@pytest.mark.parametrize("text", ["", "crew", "crew/a1", "crew/a1:firing", "crew/a1:bogus:1",
                                  "crew/a1:firing:x", "a1:firing:1"])
def test_malformed_keys_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_key(text)


def test_a_timer_key_has_no_event_sequence() -> None:
    key = parse_key("ops/a1:repeat:night.2")
    assert (key.receiver, key.alert_id, key.event, key.step) == ("ops", "a1", "repeat", "night.2")
    with pytest.raises(ValueError, match="timer key"):
        _ = key.seq


def test_store_events_read_the_sequence_from_the_key(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    alert = firing()
    alert.seq = 7
    event = emit(alert, EventKind.FIRING, T0)
    store.commit(Batch(alerts={alert.id: (alert, Signal.FIRE)}, events=[EventRecord(event)]))
    ((_, logged),) = store.events()
    assert logged.event.seq == event.seq == 8 and logged.event.key == event.key
    store.close()


def old_database(path: Path, alert: Alert) -> None:
    """A state database as earlier versions left it: with the ``meta`` table they created
    (and never wrote) next to the others."""
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO meta VALUES ('schema', '1')")
    db.execute(
        "INSERT INTO alerts(id, rule, subject, state, signal, active_at, resolved_at, body)"
        " VALUES (?,?,?,?,?,?,?,?)",
        (alert.id, alert.rule, alert.subject, alert.state.value, "fire", alert.active_at, None,
         json.dumps(alert_to_dict(alert))))
    db.commit()
    db.close()


def tables(path: Path) -> set[str]:
    db = sqlite3.connect(path)
    try:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        db.close()


def test_an_existing_database_opens_and_loses_only_the_unused_meta_table(tmp_path: Path
                                                                          ) -> None:
    path = tmp_path / "state.db"
    alert = firing()
    old_database(path, alert)
    store = Store(path)
    assert "meta" not in tables(path)
    assert {"alerts", "events", "outbox", "maintenance", "group_timers",
            "cursors"} <= tables(path)
    assert [(a.id, s) for a, s in store.open_alerts()] == [(alert.id, Signal.FIRE)]
    store.set_ack(alert.id, by="crew", comment="on it", assignee=None, now=T0 + 5)
    store.close()
    Store(path).close()  # and again, now without it


def test_read_only_store_reads_and_cannot_write(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = Store(path)
    alerts = [firing("s1"), firing("s2", T0 + 10)]
    store.commit(Batch(alerts={a.id: (a, Signal.FIRE) for a in alerts},
                       events=[EventRecord(emit(a, EventKind.FIRING, a.active_at))
                               for a in alerts]))
    ro = Store(path, readonly=True)
    found, total = ro.search(AlertFilter(station="s2"))
    assert total == 1 and [a.id for a in found] == [alerts[1].id]
    assert [r.event.alert.id for _, r in ro.events(alert_id=alerts[0].id, limit=None)] == [
        alerts[0].id]
    ro.ping()
    with pytest.raises(sqlite3.OperationalError):
        ro.set_cursor("influx", 5)
    # what the writer commits later is visible to the reader
    store.set_ack(alerts[0].id, by="crew", comment="", assignee=None, now=T0 + 20)
    assert ro.search(AlertFilter(acked=True))[1] == 1
    ro.close()
    store.close()
    with pytest.raises(sqlite3.OperationalError):
        Store(tmp_path / "missing.db", readonly=True).ping()
