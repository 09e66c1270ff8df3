"""A post's engagement curve as a small inline SVG: no JavaScript, no image request, sharp
on a phone. Every label is escaped (numbers and times only, but the rule is the rule)."""

from __future__ import annotations

from collections.abc import Sequence
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
