"""Small PNG charts for mail: a post's engagement curve, so an alert shows at a glance
whether the post is still climbing, and a hot-list topic's rank (1 at the top) and heat
over time, one chart per list.
Mail clients show PNG (Gmail drops inline SVG).

Drawn with Pillow rather than matplotlib: the same small chart for ~5 MB of resident
memory instead of ~50 MB, which a long-running daemon keeps once the first urgent alert
has been drawn. Drawn at twice the size and scaled down, for smooth lines. Labels are
ASCII (no CJK font needed).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from monitor.storage.hotlists import ListCurve, ListPoint, list_curves
from monitor.storage.models import PostRow

if TYPE_CHECKING:
    from PIL import ImageDraw

WIDTH, HEIGHT = 480, 160
SCALE = 2
LEFT, RIGHT, TOP, BOTTOM = 44, 10, 10, 22
LINE, AXIS, GUIDE, TEXT = (214, 39, 40), (150, 150, 150), (136, 136, 136), (60, 60, 60)


def curve_png(
    points: Sequence[tuple[datetime, int]], tz: tzinfo, *, threshold: int | None = None, forecast: Sequence[tuple[datetime, float, float]] = ()
) -> bytes:
    """Engagement (reposts + comments + likes) over time, 480x160, as steps (a reading
    holds until the next), with the urgent threshold as a dashed line when given, and the
    forecast (time, lower, upper bound; from the last reading on) as a dashed band."""
    from PIL import Image, ImageDraw, ImageFont

    s = SCALE
    image = Image.new("RGB", (WIDTH * s, HEIGHT * s), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=10 * s)
    x0, x1, y0, y1 = LEFT * s, (WIDTH - RIGHT) * s, (HEIGHT - BOTTOM) * s, TOP * s
    top = max([total for _, total in points] + [high for _, _, high in forecast] + [threshold or 0, 1]) * 1.15
    start, end = points[0][0], max([points[-1][0]] + [at for at, _, _ in forecast])
    span = max((end - start).total_seconds(), 1.0)

    def x(at: datetime) -> float:
        return x0 + (at - start).total_seconds() / span * (x1 - x0) if end > start else (x0 + x1) / 2

    def y(value: float) -> float:
        return y0 - value / top * (y0 - y1)

    draw.line([(x0, y1), (x0, y0), (x1, y0)], fill=AXIS, width=s)
    if forecast:
        _draw_band(draw, [(x(at), y(low), y(high)) for at, low, high in forecast], s)
        draw.text((x1, y1), "forecast (dashed)", fill=BAND_EDGE, font=font, anchor="rt")
    if threshold is not None:
        for left in range(int(x0), int(x1), 8 * s):
            draw.line([(left, y(threshold)), (min(left + 4 * s, x1), y(threshold))], fill=GUIDE, width=s)
    steps: list[tuple[float, float]] = []
    for (at, total), following in zip(points, [*points[1:], None], strict=True):
        steps.append((x(at), y(total)))
        if following is not None:
            steps.append((x(following[0]), y(total)))
    if len(steps) > 1:
        draw.line(steps, fill=LINE, width=2 * s, joint="curve")
    for at, total in points:
        cx, cy = x(at), y(total)
        draw.ellipse([cx - 2.5 * s, cy - 2.5 * s, cx + 2.5 * s, cy + 2.5 * s], fill=LINE)
    peak = max(total for _, total in points)
    draw.text((x0 - 4 * s, y(peak)), f"{peak:,}", fill=TEXT, font=font, anchor="rm")
    draw.text((x0 - 4 * s, y0), "0", fill=TEXT, font=font, anchor="rm")
    draw.text((x0, y0 + 5 * s), start.astimezone(tz).strftime("%H:%M"), fill=TEXT, font=font, anchor="lt")
    draw.text((x1, y0 + 5 * s), end.astimezone(tz).strftime("%H:%M"), fill=TEXT, font=font, anchor="rt")
    draw.text(((x0 + x1) / 2, y0 + 5 * s), "engagement", fill=TEXT, font=font, anchor="mt")
    buffer = io.BytesIO()
    image.resize((WIDTH, HEIGHT), Image.Resampling.LANCZOS).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


BAND_FILL, BAND_EDGE = (255, 226, 186), (222, 120, 0)
"""The forecast band's colours: a pale fill between dashed orange edges."""


def _draw_band(draw: ImageDraw.ImageDraw, band: Sequence[tuple[float, float, float]], s: int) -> None:
    """The forecast band from (x, y of the lower bound, y of the upper bound) points: a
    filled area, its edges dashed (a forecast, not a reading)."""
    if len(band) < 2:
        return
    draw.polygon([(bx, high) for bx, _, high in band] + [(bx, low) for bx, low, _ in reversed(band)], fill=BAND_FILL)
    for edge in ([(bx, low) for bx, low, _ in band], [(bx, high) for bx, _, high in band]):
        _dashed(draw, edge, BAND_EDGE, s)


def _dashed(draw: ImageDraw.ImageDraw, line: Sequence[tuple[float, float]], fill: tuple[int, int, int], s: int, dash: float = 5.0, gap: float = 3.0) -> None:
    """A polyline drawn as dashes ``dash`` long with ``gap`` between (in unscaled pixels)."""
    on, left = True, dash * s
    for (ax, ay), (bx, by) in zip(line, line[1:], strict=False):
        length = ((bx - ax) ** 2 + (by - ay) ** 2) ** 0.5
        done = 0.0
        while done < length:
            step = min(left, length - done)
            if on:
                t0, t1 = done / length, (done + step) / length
                draw.line([(ax + (bx - ax) * t0, ay + (by - ay) * t0), (ax + (bx - ax) * t1, ay + (by - ay) * t1)], fill=fill, width=s)
            done += step
            left -= step
            if left <= 0:
                on = not on
                left = (dash if on else gap) * s


def _rank_panel(draw: Any, font: Any, points: Sequence[tuple[datetime, int | None]], box: tuple[float, float, float, float], s: int) -> None:
    """Rank on an inverted axis (1 at the top) as steps in ``box`` (x0, x1, bottom, top);
    a reading without a rank (the topic left the list) ends the line there."""
    x0, x1, y0, y1 = box
    ranks = [rank for _, rank in points if rank is not None] or [1]
    worst = max(max(ranks), 10)
    x = _time_axis(points, x0, x1)

    def y(rank: int) -> float:
        return y1 + (rank - 1) / (worst - 1) * (y0 - y1)

    draw.line([(x0, y1), (x0, y0), (x1, y0)], fill=AXIS, width=s)
    steps: list[tuple[float, float]] = []
    for (at, rank), following in zip(points, [*points[1:], None], strict=True):
        if rank is None:  # off the list: the line ends
            if len(steps) > 1:
                draw.line(steps, fill=LINE, width=2 * s, joint="curve")
            steps = []
            continue
        steps.append((x(at), y(rank)))
        if following is not None:
            steps.append((x(following[0]), y(rank)))
        cx, cy = x(at), y(rank)
        draw.ellipse([cx - 2.5 * s, cy - 2.5 * s, cx + 2.5 * s, cy + 2.5 * s], fill=LINE)
    if len(steps) > 1:
        draw.line(steps, fill=LINE, width=2 * s, joint="curve")
    draw.text((x0 - 4 * s, y1), "1", fill=TEXT, font=font, anchor="rm")
    draw.text((x0 - 4 * s, y0), f"{worst}", fill=TEXT, font=font, anchor="rm")


def _time_axis(points: Sequence[tuple[datetime, Any]], x0: float, x1: float) -> Callable[[datetime], float]:
    start, end = points[0][0], points[-1][0]
    span = max((end - start).total_seconds(), 1.0)
    return lambda at: x0 + (at - start).total_seconds() / span * (x1 - x0) if len(points) > 1 else (x0 + x1) / 2


def _times(draw: Any, font: Any, points: Sequence[tuple[datetime, Any]], tz: tzinfo, x0: float, x1: float, y: float, label: str, fmt: str = "%H:%M") -> None:
    draw.text((x0, y), points[0][0].astimezone(tz).strftime(fmt), fill=TEXT, font=font, anchor="lt")
    draw.text((x1, y), points[-1][0].astimezone(tz).strftime(fmt), fill=TEXT, font=font, anchor="rt")
    draw.text(((x0 + x1) / 2, y), label, fill=TEXT, font=font, anchor="mt")


def _png(image: Any, width: int, height: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    image.resize((width, height), Image.Resampling.LANCZOS).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


# --- a hot list's topic: rank above, heat below (issue 16) ------------------------------------

LIST_HEIGHT = 230
"""Height of a hot-list chart: the rank panel (as tall as the engagement curve) over a heat panel."""
HEAT_TOP = 160
"""Where the heat panel starts, in chart pixels."""
HEAT = (31, 119, 180)


def _short(number: int) -> str:
    """Heat as an axis label in ASCII: 1,234,567 → 1.2M."""
    for size, unit in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if number >= size:
            return f"{number / size:.1f}".rstrip("0").rstrip(".") + unit
    return str(number)


def hotlist_png(points: Sequence[ListPoint], tz: tzinfo) -> bytes:
    """A hot-list topic over time, 480x230: its rank above (inverted axis, 1 at the top)
    and its heat below (from 0), on one time axis starting when it first appeared, each
    as steps broken where the topic was off the list."""
    from PIL import Image, ImageDraw, ImageFont

    s = SCALE
    image = Image.new("RGB", (WIDTH * s, LIST_HEIGHT * s), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=10 * s)
    x0, x1 = LEFT * s, (WIDTH - RIGHT) * s
    rank_box = (x0, x1, (HEIGHT - BOTTOM) * s, TOP * s)
    _rank_panel(draw, font, [(p.at, p.rank) for p in points], rank_box, s)
    heat_bottom, heat_top = (LIST_HEIGHT - BOTTOM) * s, HEAT_TOP * s
    x = _time_axis([(p.at, p.rank) for p in points], x0, x1)
    known = [p.heat for p in points if p.heat is not None and p.rank is not None]
    top = max([*known, 1])

    def y(heat: int) -> float:
        return heat_bottom - heat / top * (heat_bottom - heat_top)

    draw.line([(x0, heat_top), (x0, heat_bottom), (x1, heat_bottom)], fill=AXIS, width=s)
    steps: list[tuple[float, float]] = []
    for point, following in zip(points, [*points[1:], None], strict=True):
        if point.heat is None or point.rank is None:  # off the list, or heat unknown: a gap
            if len(steps) > 1:
                draw.line(steps, fill=HEAT, width=2 * s)
            steps = []
            continue
        steps.append((x(point.at), y(point.heat)))
        if following is not None:
            steps.append((x(following.at), y(point.heat)))
        cx, cy = x(point.at), y(point.heat)
        draw.ellipse([cx - 2 * s, cy - 2 * s, cx + 2 * s, cy + 2 * s], fill=HEAT)
    if len(steps) > 1:
        draw.line(steps, fill=HEAT, width=2 * s)
    draw.text((x0 - 4 * s, heat_top), _short(top) if known else "-", fill=TEXT, font=font, anchor="rm")  # a list without heat
    draw.text((x0 - 4 * s, heat_bottom), "0", fill=TEXT, font=font, anchor="rm")
    draw.text((x0 + 4 * s, heat_top), "heat", fill=HEAT, font=font, anchor="lm")
    draw.text((x0 + 4 * s, rank_box[3]), "rank", fill=LINE, font=font, anchor="lt")
    _times(draw, font, [(p.at, p.rank) for p in points], tz, x0, x1, heat_bottom + 5 * s, "rank (1 = top) and heat", "%m-%d %H:%M")
    return _png(image, WIDTH, LIST_HEIGHT)


def list_caption(curve: ListCurve, tz: tzinfo) -> str:
    """What a manager reads beside a list's curve: the list, the topic, when it first
    appeared there, its best rank and peak heat, whether it has left (Chinese and English)."""
    parts = [curve.title, curve.topic, f"首次上榜 first on the list {curve.first_listed.astimezone(tz):%m-%d %H:%M}", f"best rank {curve.best_rank}"]
    if curve.peak_heat is not None:
        parts.append(f"peak heat {curve.peak_heat:,}")
    left = curve.left_at
    parts.append(f"离榜 left the list {left.astimezone(tz):%m-%d %H:%M}" if left is not None else f"now rank {curve.points[-1].rank}")
    if curve.others:
        parts.append(f"另有 {curve.others} more topic(s) on this list")
    return " · ".join(parts)


def list_charts(session: Session, posts: Sequence[PostRow], tz: tzinfo) -> list[tuple[ListCurve, str]]:
    """One chart per hot list among ``posts``, best-placed list first: (the curve, its
    chart as a base64 PNG)."""
    return [(curve, base64.b64encode(hotlist_png(curve.points, tz)).decode("ascii")) for curve in list_curves(session, posts)]
