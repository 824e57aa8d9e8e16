"""Render a grouped notification into words for people: title, plain text, Markdown, HTML.

Why templates in files (``alerts/templates/<language>.yaml``, Jinja2): the crews read Chinese
or English, and the wording of a page at 3 a.m. is tuned by the people who receive it, not in
code (an operator's directory overrides them key by key: :mod:`alerts.notify.templates`).
Each rule has one line that says what is wrong in plain words with the key figures from the
alert's value and annotations (make-up share of circulating flow, pressure, flats below
the standard with min and median), followed by since when (local time) and a link to the
alert in the operator page (``{external_url}/#/alerts/{alert_id}``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

from jinja2 import Environment, StrictUndefined, Template, TemplateError, Undefined

from alerts.model import Alert, EventKind, Scope
from alerts.notify.base import ESCALATED, Notification
from alerts.notify.templates import TemplateSet, load_templates

__all__ = ["ALERTS_LISTED", "Language", "Rendered", "Renderer", "alert_url"]

Language = Literal["en", "zh"]
FLATS_LISTED = 10  # a station's cold flats in one message: the coldest this many, then a count
# Alerts listed in one message, then a count: a big group, or a robot's summary of everything
# over its quota, stays a readable message within the robots' size limits (the operator page
# has them all).
ALERTS_LISTED = 30


@dataclass(frozen=True, slots=True)
class Rendered:
    title: str
    text: str
    markdown: str
    html: str


def alert_url(external_url: str, alert_id: str) -> str:
    """Link to the alert in the operator page; empty without an external URL."""
    return f"{external_url.rstrip('/')}/#/alerts/{alert_id}" if external_url else ""


def _float(value: object) -> float | None:
    if value is None or isinstance(value, Undefined):
        return None
    try:
        return float(str(value))
    except ValueError:
        return None


def _num(value: object, digits: int = 1) -> str:
    number = _float(value)
    return "?" if number is None else f"{number:.{digits}f}"


def _pct(value: object) -> str:
    number = _float(value)
    return "?" if number is None else f"{number * 100:.1f} %"


def _minutes(value: object) -> str:
    number = _float(value)
    return "?" if number is None else f"{number / 60:.0f}"


class _Lenient(Undefined):
    """A missing annotation renders as ``?`` instead of failing the whole page."""

    def __str__(self) -> str:
        return "?"


class Renderer:
    """Templates of one language, compiled once; ``render`` is pure (no clock, no I/O)."""

    def __init__(self, language: Language = "en", *, external_url: str = "",
                 timezone: str = "UTC", templates: TemplateSet | None = None) -> None:
        """``templates``: the operator's overrides (:func:`load_templates`); None: shipped."""
        self.templates = templates or load_templates(None)
        data = self.templates.data(language)
        self.language = language
        self._others: dict[str, Renderer] = {}
        self.words: dict[str, str] = data["words"]
        self.rule_names: dict[str, str] = data["rules"]
        self.external_url = external_url
        self.tz = ZoneInfo(timezone)
        helpers = {"num": _num, "pct": _pct, "minutes": _minutes}
        plain = Environment(undefined=_Lenient, autoescape=False, keep_trailing_newline=False)
        plain.globals.update(helpers)
        html = Environment(undefined=StrictUndefined, autoescape=True)
        self._lines: dict[str, Template] = {
            rule: plain.from_string(src) for rule, src in data["lines"].items()
        }
        self._title = plain.from_string(data["title"])
        self._text = plain.from_string(data["text"])
        self._markdown = plain.from_string(data["markdown"])
        self._html = html.from_string(data["html"])

    def for_language(self, language: str | None) -> Renderer:
        """This renderer, or one for ``language`` (a route's choice), compiled once."""
        if language is None or language == self.language:
            return self
        if language not in self._others:
            self._others[language] = Renderer(cast(Language, language),
                                              external_url=self.external_url,
                                              timezone=self.tz.key, templates=self.templates)
        return self._others[language]

    def local(self, ts: float | None) -> str:
        if ts is None:
            return ""
        return dt.datetime.fromtimestamp(ts, tz=self.tz).strftime("%Y-%m-%d %H:%M")

    def what(self, alert: Alert) -> str:
        """The rule's plain-words line with its key figures."""
        template = self._lines.get(alert.rule) or self._lines["default"]
        try:
            line = template.render(a=alert, ann=alert.annotations, v=alert.value)
        except (TemplateError, TypeError, ValueError):  # never lose a page over wording
            line = alert.summary
        ann = alert.annotations
        if ann.get("cold_flats") and alert.scope is not Scope.FLAT:  # a station's alert
            line += "; " + self.words["cold_flats"].format(n=ann["cold_flats"],
                                                           worst=ann.get("worst_flats", ""))
        return " ".join(line.split())

    def _alert(self, alert: Alert, kind: EventKind) -> dict[str, Any]:
        escalated = alert.annotations.get(ESCALATED)
        return {
            "id": alert.id,
            "station": alert.station or "",
            "zone": alert.zone or "",
            "subject": alert.subject if alert.scope is Scope.FLAT else (
                alert.station or alert.zone or alert.subject),
            "severity": alert.severity.value,
            "rule": alert.rule,
            "rule_name": self.rule_names.get(alert.rule, alert.rule),
            "what": self.what(alert),
            "state": "resolved" if kind is EventKind.RESOLVED else "firing",
            "since": self.local(alert.fired_at or alert.active_at),
            "ended": self.local(alert.resolved_at) if kind is EventKind.RESOLVED else "",
            "url": alert_url(self.external_url, alert.id),
            "acked_by": alert.acked_by or "",
            "escalated_min": round(float(escalated) / 60) if escalated else 0,
        }

    def context(self, note: Notification) -> dict[str, Any]:
        items = list(note.items)
        flats = all(i.alert.scope is Scope.FLAT for i in items)
        if flats:  # a station's cold flats: the coldest first, and a count for the rest
            items.sort(key=lambda i: (i.alert.value is None, i.alert.value or 0.0))
        alerts = [self._alert(i.alert, i.kind)
                  for i in items[:FLATS_LISTED if flats else ALERTS_LISTED]]
        rules = {i.alert.rule for i in items}
        zones = {a["zone"] for a in alerts}
        stations = {i.alert.station for i in items}
        rule = next(iter(rules)) if len(rules) == 1 else ""
        ctx: dict[str, Any] = {
            "w": self.words if flats else {**self.words, "more": self.words["more_alerts"]},
            "status": note.status,
            "count": len(items),
            "more": len(items) - len(alerts),
            "station": next(iter(stations)) or "" if len(stations) == 1 and (
                flats or len(items) == 1) else "",
            "rule_name": self.rule_names.get(rule, rule) if rule else " / ".join(
                sorted(self.rule_names.get(r, r) for r in rules)),
            "zone": next(iter(zones)) if len(zones) == 1 else "",
            "alerts": alerts,
            "external_url": self.external_url,
        }
        ctx["title"] = " ".join(self._title.render(ctx).split())
        return ctx

    def render(self, note: Notification) -> Rendered:
        ctx = self.context(note)
        return Rendered(
            title=ctx["title"],
            text=_tidy(self._text.render(ctx)),
            markdown=_tidy(self._markdown.render(ctx)),
            html=self._html.render(ctx),
        )


def _tidy(text: str) -> str:
    """Drop the blank lines Jinja's loops leave behind."""
    return "\n".join(line.rstrip() for line in text.splitlines() if line.strip()) + "\n"
