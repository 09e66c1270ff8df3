"""A post's engagement curve, and a hot-list topic's rank and heat, as small inline SVGs: no
JavaScript, no image request, sharp on a phone. Every label is escaped (numbers and times
only, but the rule is the rule)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP, PAD_RIGHT = 360, 130, 44, 22, 10, 8


def curve_svg(points: Sequence[tuple[datetime, int]], tz: tzinfo, label: str) -> Markup:
    """``points``: (time, reposts + comments + likes), oldest first. One point is drawn
    as a dot; none is the caller's business (it shows "no readings")."""
    if not points:
        return Markup("")
    t0, t1 = points[0][0], points[-1][0]
    span = max((t1 - t0).total_seconds(), 1.0)
    top = max(max(v for _t, v in points), 1)
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM

    def xy(at: datetime, value: int) -> tuple[float, float]:
        x = PAD_LEFT + ((at - t0).total_seconds() / span) * plot_w if len(points) > 1 else PAD_LEFT + plot_w / 2
        return round(x, 1), round(PAD_TOP + plot_h - value / top * plot_h, 1)

    coords = [xy(at, value) for at, value in points]
    line = " ".join(f"{x},{y}" for x, y in coords)
    base = PAD_TOP + plot_h
    area = f"{coords[0][0]},{base} {line} {coords[-1][0]},{base}"
    fmt = "%m-%d %H:%M"
    parts = [
        f'<svg class="curve" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(label)}</title>",
        f'<line x1="{PAD_LEFT}" y1="{base}" x2="{WIDTH - PAD_RIGHT}" y2="{base}" class="axis"/>',
        f'<line x1="{PAD_LEFT}" y1="{PAD_TOP}" x2="{PAD_LEFT}" y2="{base}" class="axis"/>',
        f'<text x="{PAD_LEFT - 4}" y="{PAD_TOP + 4}" text-anchor="end">{escape(f"{top:,}")}</text>',
        f'<text x="{PAD_LEFT - 4}" y="{base}" text-anchor="end">0</text>',
        f'<text x="{PAD_LEFT}" y="{HEIGHT - 6}">{escape(t0.astimezone(tz).strftime(fmt))}</text>',
        f'<text x="{WIDTH - PAD_RIGHT}" y="{HEIGHT - 6}" text-anchor="end">{escape(t1.astimezone(tz).strftime(fmt))}</text>',
        f'<polygon points="{area}" class="fill"/>' if len(points) > 1 else "",
        f'<polyline points="{line}" class="line"/>' if len(points) > 1 else "",
        *(f'<circle cx="{x}" cy="{y}" r="2.5" class="dot"/>' for x, y in coords),
        "</svg>",
    ]
    return Markup("".join(parts))


# --- a hot-list topic: rank above, heat below (issue 16) ------------------------------------

LIST_HEIGHT, HEAT_TOP = 190, 122
"""A hot-list chart's height, and where its heat panel starts (the rank panel is as tall as a curve's)."""


def _steps(points: Sequence[tuple[datetime, int | None]], xy: Callable[[datetime, int], tuple[float, float]]) -> tuple[list[list[tuple[float, float]]], list[tuple[float, float]]]:
    """Step lines (a reading holds until the next) broken at every None, and the dots."""
    lines: list[list[tuple[float, float]]] = [[]]
    dots = []
    for (at, value), following in zip(points, [*points[1:], None], strict=True):
        if value is None:
            lines.append([])
            continue
        dots.append(xy(at, value))
        lines[-1].append(xy(at, value))
        if following is not None:
            lines[-1].append(xy(following[0], value))
    return [line for line in lines if len(line) > 1], dots


def hotlist_svg(points: Sequence[tuple[datetime, int | None, int | None]], tz: tzinfo, label: str) -> Markup:
    """``points``: (time, rank on a hot list or None once it left, heat), oldest first.
    The rank above on an inverted axis (1 at the top), the heat below from 0, one time
    axis from when the topic first appeared; both lines break where it was off the list."""
    ranks = [rank for _t, rank, _h in points if rank is not None]
    if not ranks:
        return Markup("")
    t0, t1 = points[0][0], points[-1][0]
    span = max((t1 - t0).total_seconds(), 1.0)
    worst = max(max(ranks), 10)
    known = [heat for _t, rank, heat in points if heat is not None and rank is not None]
    top = max([*known, 1])
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    rank_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    base, heat_base = PAD_TOP + rank_h, LIST_HEIGHT - PAD_BOTTOM

    def x(at: datetime) -> float:
        return round(PAD_LEFT + ((at - t0).total_seconds() / span) * plot_w if len(points) > 1 else PAD_LEFT + plot_w / 2, 1)

    rank_lines, rank_dots = _steps([(at, rank) for at, rank, _h in points], lambda at, rank: (x(at), round(PAD_TOP + (rank - 1) / (worst - 1) * rank_h, 1)))
    heats = [(at, heat if rank is not None else None) for at, rank, heat in points]
    heat_lines, heat_dots = _steps(heats, lambda at, heat: (x(at), round(heat_base - heat / top * (heat_base - HEAT_TOP), 1)))
    fmt = "%m-%d %H:%M"
    right = WIDTH - PAD_RIGHT
    parts = [
        f'<svg class="curve rank" viewBox="0 0 {WIDTH} {LIST_HEIGHT}" role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(label)}</title>",
        f'<line x1="{PAD_LEFT}" y1="{base}" x2="{right}" y2="{base}" class="axis"/>',
        f'<line x1="{PAD_LEFT}" y1="{PAD_TOP}" x2="{PAD_LEFT}" y2="{base}" class="axis"/>',
        f'<text x="{PAD_LEFT - 4}" y="{PAD_TOP + 4}" text-anchor="end">1</text>',
        f'<text x="{PAD_LEFT - 4}" y="{base}" text-anchor="end">{escape(str(worst))}</text>',
        f'<line x1="{PAD_LEFT}" y1="{heat_base}" x2="{right}" y2="{heat_base}" class="axis"/>',
        f'<line x1="{PAD_LEFT}" y1="{HEAT_TOP}" x2="{PAD_LEFT}" y2="{heat_base}" class="axis"/>',
        f'<text x="{PAD_LEFT - 4}" y="{HEAT_TOP + 4}" text-anchor="end">{escape(f"{top:,}" if known else "–")}</text>',  # a list without heat
        f'<text x="{PAD_LEFT - 4}" y="{heat_base}" text-anchor="end">0</text>',
        f'<text x="{PAD_LEFT}" y="{LIST_HEIGHT - 6}">{escape(t0.astimezone(tz).strftime(fmt))}</text>',
        f'<text x="{right}" y="{LIST_HEIGHT - 6}" text-anchor="end">{escape(t1.astimezone(tz).strftime(fmt))}</text>',
        *(f'<polyline points="{" ".join(f"{px},{py}" for px, py in line)}" class="line"/>' for line in rank_lines),
        *(f'<circle cx="{px}" cy="{py}" r="2.5" class="dot"/>' for px, py in rank_dots),
        *(f'<polyline points="{" ".join(f"{px},{py}" for px, py in line)}" class="heat"/>' for line in heat_lines),
        *(f'<circle cx="{px}" cy="{py}" r="2" class="heat-dot"/>' for px, py in heat_dots),
        "</svg>",
    ]
    return Markup("".join(parts))
