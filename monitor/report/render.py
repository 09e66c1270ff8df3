"""A report's numbers turned into what people read: the subject, a plain-text body, an HTML
body (autoescaped: post text and author names are hostile) with the trend chart. One
``ReportData`` renders for a file (images as data URIs) or for an email (images as
``cid:`` attachments); ``make_report`` builds and renders in one call."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session

from alerts import Severity
from monitor.durations import human_duration
from monitor.report.chart import trend_png
from monitor.report.data import ReportData
from monitor.report.queries import build_report
from monitor.report.stats import day_bounds
from weburl import href

CHART_NAME = "trend.png"
UNASSIGNED = "未指派 unassigned"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")

ImageSrc = Callable[[str, bytes], str]


@dataclass(frozen=True, slots=True)
class Report:
    subject: str
    text: str
    html: str
    images: Mapping[str, bytes]
    """Name → PNG bytes; attach them (``Content-ID: <name>``) when ``image_src`` gave ``cid:`` links."""


def data_uri(name: str, png: bytes) -> str:
    """An ``image_src`` for a standalone HTML file: the image travels inside the page."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def cid(name: str, png: bytes) -> str:
    """An ``image_src`` for an email: the image is a related MIME part with ``Content-ID: <name>``."""
    return f"cid:{name}"



def _period_label(since: datetime, until: datetime, tz: tzinfo) -> str:
    days, _ = day_bounds(since, until, tz)  # the days the trend shows: until is exclusive
    first, last = days[0], days[-1]
    return first.isoformat() if first == last else f"{first.isoformat()} – {last.isoformat()}"


def _kind_label(since: datetime, until: datetime) -> str:
    span = until - since
    if span <= timedelta(days=1, hours=1):
        return "日报"
    if span <= timedelta(days=7, hours=1):
        return "周报"
    return "报告"


def report_subject(data: ReportData, tz: tzinfo) -> str:
    """``[日报 digest] 2026-11-15 – 2026-11-22: 12 tickets (3 urgent), SLA missed 2``:
    the figures a manager decides on, readable in a mail list without opening it."""
    urgent = data.severity(Severity.urgent.name).opened
    subject = (
        f"[{_kind_label(data.since, data.until)} digest] {_period_label(data.since, data.until, tz)}: "
        f"{data.tickets_opened} tickets ({urgent} urgent), SLA missed {data.overall.sla.missed}"
    )
    return _CONTROL.sub(" ", subject)



@lru_cache(maxsize=1)
def _environment() -> Environment:
    """Built once: HTML autoescaped (post text and author names are hostile), text not."""
    env = Environment(
        loader=PackageLoader("monitor.report", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["duration"] = human_duration
    env.filters["href"] = href
    env.filters["count"] = lambda v: "–" if v is None else str(v)
    env.filters["percent"] = lambda v: "–" if v is None else f"{v:.0%}"
    return env


def render_report(data: ReportData, *, tz: tzinfo, image_src: ImageSrc = data_uri) -> Report:
    """Subject, text and HTML of one report. ``image_src(name, png)`` decides how the HTML
    points at the chart: ``data_uri`` for a file, ``cid`` for an email."""
    png = trend_png(data.days)
    subject = report_subject(data, tz)

    def local(when: datetime) -> str:
        return when.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")

    context = {
        "d": data, "p": data.playbook, "unassigned_label": UNASSIGNED, "subject": subject, "since": local(data.since), "until": local(data.until),
        "chart_src": image_src(CHART_NAME, png), "chart_name": CHART_NAME,
    }
    env = _environment()
    return Report(
        subject=subject,
        text=env.get_template("report.txt").render(**context),
        html=env.get_template("report.html").render(**context),
        images={CHART_NAME: png},
    )


def make_report(session: Session, since: datetime, until: datetime, tz: tzinfo, image_src: ImageSrc = data_uri) -> Report:
    """Build and render in one call: what the ``report`` command and a scheduled digest need."""
    return render_report(build_report(session, since, until, tz=tz), tz=tz, image_src=image_src)
