"""Retention: the database stays flat in a long run, and nothing that matters is lost."""

from __future__ import annotations

from sqlalchemy import func, select

from monitor.storage.models import MentionRow, PostRow, SnapshotRow
from tests.conftest import mastodon_source, status, write_config

TIMELINE = "/api/v1/timelines/tag/acme"


def counts(app):
    with app.sessions() as s:
        return {
            "posts": s.scalar(select(func.count(PostRow.id))),
            "snapshots": s.scalar(select(func.count(SnapshotRow.id))),
            "mentions": s.scalar(select(func.count(MentionRow.id))),
        }


def test_prune_keeps_tickets_and_mentions_and_drops_old_noise(tmp_path, loopback, make_app, clock):
    config = write_config(tmp_path, mastodon_source(loopback.base))
    config.write_text(config.read_text().replace('outbox = "outbox"', 'outbox = "outbox"\nkeep = "30d"'))
    app = make_app(config)
    loopback.json(
        TIMELINE,
        [
            status("1", "今天天气不错", reblogs=1),  # not a mention: noise
            status("2", "艾克美杯子还行", reblogs=1),  # a mention, no ticket
            status("3", "艾克美杯子烫伤了孩子", reblogs=1),  # a ticket
        ],
    )
    app.poll("masto")
    assert counts(app) == {"posts": 3, "snapshots": 3, "mentions": 2}
    assert app.prune().posts == 0  # nothing is old yet

    clock.advance(days=31)
    report = app.prune()
    assert (report.posts, report.snapshots) == (1, 2)  # the noise post; snapshots of posts 1 and 2
    assert counts(app) == {"posts": 2, "snapshots": 1, "mentions": 2}  # the ticket's post keeps its curve
    assert app.prune().posts == 0


def test_keep_can_never_cut_into_the_scoring_windows(tmp_path, loopback, make_app, clock):
    config = write_config(tmp_path, mastodon_source(loopback.base))
    config.write_text(config.read_text().replace('outbox = "outbox"', 'outbox = "outbox"\nkeep = "1h"'))
    app = make_app(config)
    loopback.json(TIMELINE, [status("1", "今天天气不错", reblogs=1)])
    app.poll("masto")
    clock.advance(hours=47)  # inside track_for (48h)
    assert app.prune().posts == 0
    clock.advance(hours=2)
    assert app.prune().posts == 1


def test_a_long_run_stays_flat(tmp_path, loopback, make_app, clock):
    config = write_config(tmp_path, mastodon_source(loopback.base))
    config.write_text(config.read_text().replace('outbox = "outbox"', 'outbox = "outbox"\nkeep = "3d"'))
    app = make_app(config)
    sizes = []
    for day in range(12):  # 12 days of 20 fresh noise posts a day, pruned daily
        loopback.json(TIMELINE, [status(f"{day}-{i}", f"随便说说 {day} {i}", reblogs=i) for i in range(20)])
        app.poll("masto")
        app.prune()
        sizes.append(counts(app)["posts"])
        clock.advance(days=1)
    assert max(sizes[6:]) == sizes[6]  # after the window fills, the table stops growing
    assert sizes[-1] <= 20 * 4
