"""Small PNG charts for mail: a post's engagement curve, so an alert shows at a glance
whether the post is still climbing. matplotlib is imported only when a chart is drawn;
the Figure API (no pyplot) keeps no global state. Labels are ASCII (no CJK font needed)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime, tzinfo


def curve_png(points: Sequence[tuple[datetime, int]], tz: tzinfo, *, threshold: int | None = None) -> bytes:
    """Engagement (reposts + comments + likes) over time, 480x160, with the urgent
    threshold as a dashed line when given."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import DateFormatter
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.8, 1.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    xs = [at.astimezone(tz).replace(tzinfo=None) for at, _ in points]
    ys = [total for _, total in points]
    ax.plot(xs, ys, color="#d62728", marker="o", markersize=3, linewidth=1.5, drawstyle="steps-post")
    if threshold is not None:
        ax.axhline(threshold, color="#888888", linestyle="--", linewidth=0.8)
    ax.set_ylim(0, max(ys + [threshold or 0, 1]) * 1.15)
    ax.xaxis.set_major_formatter(DateFormatter("%H:%M"))
    ax.tick_params(labelsize=7)
    ax.set_ylabel("engagement", fontsize=7)
    fig.tight_layout(pad=0.3)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
