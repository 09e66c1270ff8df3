"""Feeds are hostile: no entity expansion bombs, no external entities (XXE)."""

from __future__ import annotations

import time
from zoneinfo import ZoneInfo

import httpx
import respx

from sources import PoliteHttp, SourceContext
from sources.rss import RssSource

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
<!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
<!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
<!ENTITY xxe SYSTEM "file:///etc/passwd">
]>
<rss version="2.0"><channel><title>t</title>
<item><title>Acme &f;</title><description>&xxe;</description><link>https://feeds.test/1</link></item>
</channel></rss>"""


@respx.mock
def test_entity_bomb_and_external_entity_are_not_expanded():
    respx.get("https://feeds.test/bomb.xml").mock(return_value=httpx.Response(200, content=BOMB))
    with httpx.Client() as client:
        source = RssSource("bomb", {"url": "https://feeds.test/bomb.xml"}, SourceContext(PoliteHttp(client), ZoneInfo("UTC")))
        started = time.monotonic()
        try:
            posts = source.fetch()
        except Exception as exc:  # refusing the feed outright is fine too, as our own error
            from sources import SourceError

            assert isinstance(exc, SourceError)
            posts = []
    assert time.monotonic() - started < 2
    for post in posts:
        assert len(post.text) < 10_000
        assert "root:" not in post.text
