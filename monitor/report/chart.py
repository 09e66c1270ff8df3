"""The report's one chart, the daily trend, drawn as a PNG. Apart because it is the only
part that needs matplotlib, which is imported when a chart is drawn and never by the
daemon's start-up."""

from __future__ import annotations

import io
from collections.abc import Sequence

from monitor.report.data import DayCount


def trend_png(days: Sequence[DayCount]) -> bytes:
    """Mentions per day as bars, tickets opened per day as a line on a second axis;
    640x240 PNG. matplotlib is imported here, not at module level, so the daemon (which
    never draws) does not pay for it; the Figure API without pyplot keeps no global state.
    Labels are ASCII, so the default font suffices (no CJK font needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(6.4, 2.4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    xs = list(range(len(days)))
    mentions = [d.mentions for d in days]
    if len(days) <= 92:
        ax.bar(xs, mentions, color="#9ecae1", label="mentions / day")
    else:  # thousands of bars take seconds to draw and are unreadable anyway
        ax.fill_between(xs, mentions, step="mid", color="#9ecae1", label="mentions / day")
    ax.set_ylabel("mentions", fontsize=8)
    ax.set_ylim(0, max(mentions + [1]) * 1.35)  # headroom for the legend
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    stride = max(1, -(-len(days) // 10))
    ax.set_xticks(xs[::stride], [d.day.strftime("%m-%d") for d in days][::stride], fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    twin = ax.twinx()
    twin.plot(xs, [d.tickets for d in days], color="#d62728", marker="o" if len(days) <= 92 else "", markersize=3, linewidth=1.5, label="tickets / day")
    twin.set_ylabel("tickets", fontsize=8)
    twin.set_ylim(0, max([d.tickets for d in days] + [1]) * 1.35)
    twin.yaxis.set_major_locator(MaxNLocator(integer=True))
    twin.tick_params(axis="y", labelsize=7)
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles, [str(h.get_label()) for h in handles], loc="upper left", fontsize=7, frameon=False)
    fig.tight_layout(pad=0.4)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
