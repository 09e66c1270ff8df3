"""Alert → subject, plain text and HTML, in Chinese and English.

Post text, author names, titles and every other platform value are hostile input: the
HTML part is rendered by Jinja2 with autoescaping on; the subject and every value the plain
text shows go through ``one_line``, so a value can neither inject a header nor start a line
of its own in the text mail (a fake "acknowledge" link under the real ones).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from alerts.model import Alert
from weburl import href

KIND_LABELS = {
    "opened": "新工单 new ticket",
    "raised": "升级 severity raised",
    "reopened": "重新打开 reopened",
    "repeat": "仍未确认 still unacknowledged",
    "escalated": "超时上报 escalated: not acknowledged in time",
    "reminder": "提醒 reminder",
    "step_overdue": "步骤超时 playbook step overdue",
}
SUBJECT_PREFIX = {"step_overdue": "[步骤超时 step overdue] ", "reminder": "[提醒 reminder] ", "repeat": "[未确认 unacked] ", "escalated": "[超时 overdue] ", "reopened": "[重开 reopened] "}
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
"""Every control character: among them each one that some reader ends a line at (LF, CR,
VT, FF, FS, GS, RS, NEL), plus the Unicode line and paragraph separators."""


def one_line(value: object) -> str:
    """``value`` as text on one line: each run of control characters and line or paragraph
    separators becomes one space. Applied to every ``{{ … }}`` of the plain-text templates
    (the text environment's ``finalize``) and to the subject."""
    return _LINE_BREAKING.sub(" ", str(value))


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


class Renderer:
    """Built once per application (templates are compiled once)."""

    def __init__(self, timezone: tzinfo) -> None:
        self.timezone = timezone
        self.env = self._environment(autoescape=select_autoescape(enabled_extensions=("html", "j2.html"), default_for_string=True))
        self.text_env = self._environment(autoescape=False, finalize=one_line)
        """Plain text: no escaping, but no value it prints can break a line."""

    def _environment(self, **options: Any) -> Environment:
        env = Environment(loader=PackageLoader("alerts", "templates"), undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, **options)
        env.filters["local"] = self._local
        env.filters["count"] = lambda v: "–" if v is None else str(v)
        env.filters["href"] = href
        return env

    def _local(self, when: datetime | None) -> str:
        if when is None:
            return "–"
        return when.astimezone(self.timezone).strftime("%Y-%m-%d %H:%M %Z")

    def render(self, alerts: Alert | Sequence[Alert], route: str = "") -> Rendered:
        """One message about one ticket, or about a group of tickets told together."""
        group = [alerts] if isinstance(alerts, Alert) else list(alerts)
        if not group:
            raise ValueError("nothing to render")
        subject = one_line(self._subject(group))
        if len(subject) > 200:
            subject = subject[:199] + "…"
        context = {"alerts": group, "labels": KIND_LABELS, "subject": subject, "route_label": f"路由 route {route}" if route else ""}
        text = self.text_env.get_template("alert.txt").render(**context)
        html = self.env.get_template("alert.html").render(**context)
        return Rendered(subject, text, html)

    @staticmethod
    def _subject(group: list[Alert]) -> str:
        if len(group) == 1:
            alert = group[0]
            sev = alert.severity
            subject = f"[{sev.zh} {sev.name}] #{alert.ticket_id} {alert.brand}: {alert.title}"
            if alert.kind == "raised" and alert.previous_severity is not None:
                prev = alert.previous_severity
                subject += f" (升级 raised from {prev.zh} {prev.name})"
            return SUBJECT_PREFIX.get(alert.kind, "") + subject
        sev = max(a.severity for a in group)
        brands = ", ".join(dict.fromkeys(a.brand for a in group))
        ids = " ".join(f"#{a.ticket_id}" for a in group[:8]) + (" …" if len(group) > 8 else "")
        return f"[{sev.zh} {sev.name}] {len(group)} 个工单 tickets · {brands}: {ids}"
