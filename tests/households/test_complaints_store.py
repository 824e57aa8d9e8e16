"""Complaint tickets in SQLite: lifecycle with who and when, conflicts, KPIs."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.store import Store
from households.complaints import (
    ComplaintConflict,
    ComplaintFilter,
    ComplaintNotFound,
    ComplaintStore,
    NewComplaint,
)
from households.verdict import Evidence, judge

H = 3600.0
T0 = 1_800_000_000.0


def new(meter: str | None = "f1", at: float = T0, station: str = "s1") -> NewComplaint:
    return NewComplaint(station=station, zone="north", meter=meter,
                        address=None if meter else "flat 12, staircase B", reported_at=at,
                        channel="12345", text="radiators cold since yesterday")


VERDICT = judge(Evidence(T0, True, [(T0 - 600, 16.0)], None))


@pytest.fixture
def store(tmp_path: Path) -> ComplaintStore:
    return ComplaintStore(tmp_path / "alerts.db")


def test_lifecycle_records_who_and_when(store: ComplaintStore) -> None:
    c = store.add(new(), VERDICT, "hotline-1", T0 + 60)
    assert (c.ticket, c.status, c.created_by, c.received_at) == ("T000001", "open", "hotline-1",
                                                                 T0 + 60)
    assert c.verdict["finding"] == "cold" and c.verdict["text_zh"].startswith("属实")
    v = store.visit(c.ticket, "crew-7", "air in the radiator, bled it", T0 + 3 * H)
    assert (v.status, v.visited_by, v.visited_at) == ("visited", "crew-7", T0 + 3 * H)
    again = store.visit(c.ticket, "crew-8", "checked again", T0 + 5 * H)
    assert (again.visited_by, again.visited_at) == ("crew-7", T0 + 3 * H)  # first visit kept
    r = store.resolve(c.ticket, "crew-8", "19.5 °C measured", T0 + 6 * H)
    assert (r.status, r.resolved_by, r.resolved_at) == ("resolved", "crew-8", T0 + 6 * H)
    assert [(e.kind, e.who) for e in store.events(c.ticket)] == [
        ("opened", "hotline-1"), ("visited", "crew-7"), ("visited", "crew-8"),
        ("resolved", "crew-8")]
    with pytest.raises(ComplaintConflict):
        store.visit(c.ticket, "crew-7", "late", T0 + 7 * H)
    with pytest.raises(ComplaintConflict):
        store.resolve(c.ticket, "crew-7", "twice", T0 + 7 * H)
    with pytest.raises(ComplaintNotFound):
        store.get("T000099")
    with pytest.raises(ComplaintNotFound):
        store.visit("X1", "crew", "?", T0)


def test_shares_the_alert_store_file(tmp_path: Path) -> None:
    alerts = Store(tmp_path / "alerts.db")
    complaints = ComplaintStore(tmp_path / "alerts.db")
    complaints.add(new(), VERDICT, "h", T0)
    assert alerts.open_alerts() == []
    reopened = ComplaintStore(tmp_path / "alerts.db")
    assert reopened.get("T000001").meter == "f1"


def test_search_filters_and_pages(store: ComplaintStore) -> None:
    for i in range(5):
        store.add(new(meter=f"f{i % 2}", at=T0 + i * H), VERDICT, "h", T0 + i * H)
    store.add(new(meter=None, at=T0 + 9 * H, station="s2"), VERDICT, "h", T0 + 9 * H)
    items, total = store.search(ComplaintFilter(station="s1", limit=2))
    assert total == 5 and [c.ticket for c in items] == ["T000005", "T000004"]
    items, total = store.search(ComplaintFilter(meter="f0", since=T0 + H))
    assert total == 2 and {c.ticket for c in items} == {"T000003", "T000005"}
    store.resolve("T000006", "crew", "done", T0 + 10 * H)
    items, total = store.search(ComplaintFilter(status=("resolved",)))
    assert total == 1 and items[0].address == "flat 12, staircase B"


def test_kpis(store: ComplaintStore) -> None:
    a = store.add(new("f1", T0), VERDICT, "h", T0)
    b = store.add(new("f1", T0 + H), VERDICT, "h", T0 + H)
    c = store.add(new("f1", T0 + 2 * H), VERDICT, "h", T0 + 2 * H)
    d = store.add(new("f2", T0), VERDICT, "h", T0)
    store.add(new(None, T0), VERDICT, "h", T0)
    store.visit(a.ticket, "crew", "x", T0 + 2 * H)
    store.visit(b.ticket, "crew", "x", T0 + 5 * H)
    store.resolve(a.ticket, "crew", "x", T0 + 10 * H)
    store.resolve(d.ticket, "crew", "x", T0 + 4 * H)  # resolved without a visit
    k = store.kpis(ComplaintFilter())
    assert (k.complaints, k.open, k.visited, k.resolved) == (5, 2, 1, 2)
    assert k.share_resolved == pytest.approx(0.4)
    assert k.first_visit_h_median == pytest.approx(3.0)  # 2 h and 4 h
    assert k.resolve_h_median == pytest.approx(7.0)  # 10 h and 4 h
    assert k.resolve_h_p90 == pytest.approx(10.0)
    assert (k.repeat_complaints, k.repeat_flats) == (2, 1)
    assert k.worst_flats == [("s1", "f1", 3)]
    assert k.findings == {"cold": 5}
    assert store.kpis(ComplaintFilter(since=T0 + H)).complaints == 2
    assert c.status == "open"
    empty = store.kpis(ComplaintFilter(zone="south"))
    assert (empty.complaints, empty.share_resolved, empty.first_visit_h_median) == (0, None,
                                                                                    None)
