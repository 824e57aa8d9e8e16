"""WeatherForecast and ForecastBook: interpolation, ordering, and what a backtest may know."""

from __future__ import annotations

import threading

import pytest

from forecast.weather import ForecastBook, ForecastPoint, WeatherForecast

H = 3600.0


def fc(zone: str, issued_at: float, temps: list[float], source: str = "sim") -> WeatherForecast:
    """Hourly points from the first full hour after the issue."""
    first = (issued_at // H + 1) * H
    return WeatherForecast(zone, issued_at, source, tuple(
        ForecastPoint(first + i * H, t) for i, t in enumerate(temps)))


def test_at_interpolates_linearly_between_hours() -> None:
    f = fc("north", 0.0, [0.0, -4.0, 2.0])
    assert f.at(H) == 0.0
    assert f.at(2 * H) == -4.0
    assert f.at(1.5 * H) == pytest.approx(-2.0)
    assert f.at(2.25 * H) == pytest.approx(-2.5)
    assert f.at(3 * H) == 2.0


def test_at_is_none_outside_the_forecast() -> None:
    f = fc("north", 0.0, [1.0, 2.0])
    assert f.at(H - 1) is None
    assert f.at(2 * H + 1) is None


def test_single_point_forecast() -> None:
    f = fc("north", 0.0, [5.0])
    assert f.at(H) == 5.0
    assert f.at(H + 1) is None


def test_lead_h_and_from_time() -> None:
    f = fc("north", 1800.0, [1.0, 2.0, 3.0])
    assert [f.lead_h(p) for p in f.points] == [0.5, 1.5, 2.5]
    cut = f.from_time(2 * H)
    assert cut is not None and [p.outdoor_temp for p in cut.points] == [2.0, 3.0]
    assert cut.issued_at == f.issued_at
    assert f.from_time(10 * H) is None


@pytest.mark.parametrize(("points", "message"), [
    ((), "no points"),
    ((ForecastPoint(H, 1.0), ForecastPoint(H, 2.0)), "not after"),
    ((ForecastPoint(2 * H, 1.0), ForecastPoint(H, 2.0)), "not after"),
    ((ForecastPoint(H, float("nan")),), "not finite"),
    ((ForecastPoint(float("inf"), 1.0),), "not finite"),
])
def test_bad_points_are_refused(points: tuple[ForecastPoint, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WeatherForecast("north", 0.0, "mqtt", points)


def test_empty_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="zone"):
        fc("", 0.0, [1.0])


def test_latest_is_by_issue_time_not_arrival() -> None:
    book = ForecastBook()
    new, old = fc("north", 6 * H, [1.0]), fc("north", 0.0, [2.0])
    book.put(new)
    book.put(old)  # a retained old issue arriving late must not replace the newer one
    assert book.latest("north") is new
    assert book.latest("south") is None


def test_same_issue_time_replaces() -> None:
    book = ForecastBook()
    book.put(fc("north", 0.0, [1.0]))
    again = fc("north", 0.0, [3.0])
    book.put(again)
    assert book.issues("north") == [again]


def test_as_known_at_never_returns_a_later_issue() -> None:
    book = ForecastBook(keep_s=None)
    issues = [fc("north", k * 6 * H, [float(k)]) for k in range(4)]
    book.put_all(reversed(issues))
    assert book.as_known_at("north", -1.0) is None
    assert book.as_known_at("north", 0.0) is issues[0]
    assert book.as_known_at("north", 6 * H - 1) is issues[0]
    assert book.as_known_at("north", 6 * H) is issues[1]
    assert book.as_known_at("north", 100 * H) is issues[3]
    assert book.as_known_at("south", 100 * H) is None


def test_keep_s_bounds_history_behind_the_newest_issue() -> None:
    book = ForecastBook(keep_s=12 * H)
    for k in range(10):
        book.put(fc("north", k * 6 * H, [float(k)]))
    assert [f.issued_at for f in book.issues("north")] == [42 * H, 48 * H, 54 * H]
    assert book.zones() == ["north"]
    with pytest.raises(ValueError):
        ForecastBook(keep_s=-1)


def test_concurrent_puts_keep_order() -> None:
    book = ForecastBook(keep_s=None)

    def writer(offset: int) -> None:
        for k in range(200):
            book.put(fc("north", (k * 4 + offset) * H, [1.0]))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    times = [f.issued_at for f in book.issues("north")]
    assert times == sorted(times) and len(times) == 800
    assert book.latest("north") is not None
    assert book.latest("north").issued_at == 799 * H  # type: ignore[union-attr]
