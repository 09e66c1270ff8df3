"""The engagement chart in alert mail: a real PNG, of the promised size, that rises where
the post's engagement rises."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from PIL import Image

from monitor.delivery.charts import HEIGHT, WIDTH, curve_png

START = datetime(2026, 11, 22, 8, tzinfo=UTC)
TZ = ZoneInfo("Asia/Shanghai")


def red_rows(png: bytes, left: int, right: int) -> list[int]:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return [y for y in range(image.height) for x in range(left, right) if (lambda p: p[0] > 180 and p[1] < 90 and p[2] < 90)(image.getpixel((x, y)))]


def blue_rows(png: bytes, left: int, right: int) -> list[int]:
    """Rows holding the heat line's blue between columns ``left`` and ``right``."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return [y for y in range(image.height) for x in range(left, right) if (lambda p: p[2] > 150 and p[0] < 90)(image.getpixel((x, y)))]


def test_a_climbing_post_is_drawn_low_on_the_left_and_high_on_the_right():
    png = curve_png([(START + timedelta(minutes=5 * i), v) for i, v in enumerate([3, 10, 25, 60, 140, 260])], TZ, threshold=100)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (WIDTH, HEIGHT)
    left, right = red_rows(png, 50, 90), red_rows(png, WIDTH - 40, WIDTH - 6)
    assert left and right and min(right) < min(left) - 60  # higher on screen = smaller y


def test_one_reading_is_a_dot_and_flat_zero_still_draws():
    for points in ([(START, 3)], [(START, 0), (START + timedelta(minutes=1), 0)]):
        png = curve_png(points, TZ)
        assert Image.open(io.BytesIO(png)).size == (WIDTH, HEIGHT)
        assert red_rows(png, 0, WIDTH)


def test_a_hot_list_topic_is_drawn_with_its_rank_above_and_its_heat_below_both_broken_while_off_the_list():
    from monitor.delivery.charts import LIST_HEIGHT, hotlist_png
    from monitor.storage.hotlists import ListPoint

    readings = [(48, 90_000), (30, 150_000), (22, 300_000), (12, 700_000), (5, 1_234_567), (None, None), (None, None), (14, 400_000)]
    png = hotlist_png([ListPoint(START + timedelta(minutes=5 * i), rank, heat) for i, (rank, heat) in enumerate(readings)], TZ)
    assert Image.open(io.BytesIO(png)).size == (WIDTH, LIST_HEIGHT)
    x = lambda minute: 44 + 426 * minute // 35  # noqa: E731 - the plot's column at a minute
    early, late = red_rows(png, x(3), x(4)), red_rows(png, x(21), x(24))  # right of the "rank" label
    assert early and late and min(late) < min(early) - 60 and max(late) < 140  # rank 48 → 5, in the rank panel
    heat_early, heat_late = blue_rows(png, x(3), x(4)), blue_rows(png, x(21), x(24))
    assert min(heat_early) > 150 and min(heat_late) < min(heat_early) - 30  # heat below the ranks, and rising
    assert not red_rows(png, x(26), x(34)) and not blue_rows(png, x(26), x(34))  # off the list from minute 25 to 35


def test_a_list_that_gives_no_heat_draws_its_rank_and_an_empty_heat_panel():
    from monitor.delivery.charts import hotlist_png
    from monitor.storage.hotlists import ListPoint
    from monitor.web.svg import hotlist_svg

    points = [(START + timedelta(minutes=5 * i), rank, None) for i, rank in enumerate([20, 9, 4])]
    png = hotlist_png([ListPoint(*p) for p in points], TZ)
    assert red_rows(png, 200, 300) and not blue_rows(png, 100, WIDTH)
    svg = str(hotlist_svg(points, TZ, "rank"))
    assert svg.count('class="dot"') == 3 and 'class="heat' not in svg and 'text-anchor="end">–</text>' in svg


def test_a_topic_never_ranked_is_an_empty_chart_not_an_error():
    from monitor.delivery.charts import hotlist_png
    from monitor.storage.hotlists import ListPoint

    png = hotlist_png([ListPoint(START, None, None)], TZ)
    assert red_rows(png, 100, WIDTH) == [] and blue_rows(png, 100, WIDTH) == []  # right of the panel labels
