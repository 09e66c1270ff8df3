"""Hot-list answers rebuilt from the real archives in shared/fixtures/real/hotlists.

The archives are processed data (``{title, url, hot, summary?}`` per entry, see SOURCES.md
there), not raw responses: each builder puts those real entries, in their real order, into
the shape ENDPOINTS.md gives for the platform's endpoint. The file each body comes from:

* Weibo: ``multi_platform_x_hot_data/weibo-top-search/now.json`` (``hot`` = Weibo ``num``)
* Zhihu: ``multi_platform_x_hot_data/zhihu-hot-questions/now.json`` (its ``hot`` is 0; the
  heat text is written from the Weibo heat of the same position, "N 万热度")
* Toutiao: ``multi_platform_x_hot_data/toutiao-hot/now.json`` (``hot`` = HotValue)
* Bilibili: ``multi_platform_x_hot_data/weibo-top-search/now.json`` titles as hot words
  (the archive's bilibili list is popular videos, not the hot-word endpoint)
* Bilibili popular videos (``bilibili-popular``): ``multi_platform_x_hot_data/bilibili-hot/now.json``
  (``hot`` = the video's views ``stat.view``, the BV id from its b23.tv link, ``summary`` its
  ``desc``; the uploader's name is not archived and is written as ``UP主<n>``)
* Douyin: ``multi_platform_x_hot_data/douyin-hot/now.json`` (``hot`` = hot_value)
* Baidu: ``multi_platform_x_hot_data/baidu-hot-search/now.json`` (``hot`` = hotScore)

``snapshots`` and ``signal_tracker_days`` give every archived list (``history/*.json``, and
``weibo_signal_tracker/raw/*.json``) for the parsers' tests over whole archives.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

HOTLISTS = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real" / "hotlists"
X_HOT = HOTLISTS / "multi_platform_x_hot_data"


def archive(platform: str) -> list[dict[str, Any]]:
    path = X_HOT / platform / "now.json"
    if not path.is_file():
        pytest.skip(f"real hot-list archive {path} not found (expected the shared checkout next to the repo)")
    return json.loads(path.read_text(encoding="utf-8"))["data"]


def snapshots(platform: str) -> list[list[dict[str, Any]]]:
    """Every snapshot of ``multi_platform_x_hot_data/<platform>/history/*.json`` (13 days,
    about 6 a day), each the list's entries in order."""
    folder = X_HOT / platform / "history"
    if not folder.is_dir():
        pytest.skip(f"real hot-list archive {folder} not found")
    found = []
    for path in sorted(folder.glob("*.json")):
        found += [snap["data"] for snap in json.loads(path.read_text(encoding="utf-8"))["data"]]
    return found


def signal_tracker_days() -> list[list[dict[str, Any]]]:
    """``weibo_signal_tracker/raw/*.json``: 30 days of Weibo topics, ``text`` with ``count``
    (Weibo's ``num``), as entries of the x-hot-data form."""
    folder = HOTLISTS / "weibo_signal_tracker" / "raw"
    if not folder.is_dir():
        pytest.skip(f"real hot-list archive {folder} not found")
    return [[{"title": t["text"], "hot": t["count"], "url": ""} for t in json.loads(path.read_text(encoding="utf-8"))] for path in sorted(folder.glob("*.json"))]


def weibo_body(entries: list[dict[str, Any]] | None = None, *, ad_at: int | None = None) -> dict[str, Any]:
    """``/ajax/side/hotSearch``: ``data.realtime[]`` with ``realpos`` and ``num``, a pinned
    ``hotgov`` item, labels on the first entries; an ad inserted at ``ad_at`` (0-based)."""
    entries = archive("weibo-top-search") if entries is None else entries
    labels = ["爆", "沸", "热", "新"]
    realtime = [
        {"word": e["title"], "word_scheme": f"#{e['title']}#", "note": e["title"], "num": e["hot"], "raw_hot": e["hot"], "realpos": i, "rank": i - 1,
         "label_name": labels[i - 1] if i <= len(labels) else "", "flag": 1, "category": "社会", "onboard_time": 1771720573}
        for i, e in enumerate(entries, 1)
    ]
    if ad_at is not None:
        realtime.insert(ad_at, {"word": "某品牌新品发布", "note": "某品牌新品发布", "num": 0, "is_ad": 1, "realpos": ad_at + 1, "label_name": "商"})
    gov = {"word": "#坚定信心 真抓实干#", "note": "坚定信心 真抓实干", "is_gov": 1, "icon_desc": "置顶"}
    return {"ok": 1, "data": {"realtime": realtime, "hotgov": gov, "hotgovs": [gov]}}


def with_topic(words: str, rank: int, heat: int) -> list[dict[str, Any]]:
    """The Weibo archive's entries with ``words`` at ``rank`` (1-based), the rest moved down."""
    entries = [e for e in archive("weibo-top-search") if e["title"] != words][:49]
    entries.insert(rank - 1, {"title": words, "hot": heat, "url": ""})
    return entries


def zhihu_body() -> dict[str, Any]:
    heats = [e["hot"] for e in archive("weibo-top-search")]
    data = []
    for i, e in enumerate(archive("zhihu-hot-questions")):
        heat = heats[i % len(heats)] // 10_000
        data.append({"type": "hot_list_feed", "style_type": "1", "card_id": f"Q_{1000 + i}", "detail_text": f"{heat} 万热度",
                     "target": {"id": 600_000_000 + i, "title": e["title"], "excerpt": e.get("summary", ""), "url": f"https://api.zhihu.com/questions/{600_000_000 + i}",
                                "answer_count": 10, "follower_count": 100}})
    return {"data": data, "paging": {"is_end": True}, "fresh_text": "热榜已更新"}


def toutiao_body(entries: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    entries = archive("toutiao-hot") if entries is None else entries
    data = [{"ClusterIdStr": str(7_600_000_000_000_000_000 + i), "Title": e["title"], "QueryWord": e["title"], "Url": e["url"], "HotValue": str(e["hot"]),
             "Label": "hot" if i < 3 else "", "InterestCategory": ["society"]} for i, e in enumerate(entries)]
    return {"data": data, "fixed_top_data": [{"Title": "置顶：权威发布", "Url": "https://www.toutiao.com/"}], "status": "success"}


def bilibili_body() -> dict[str, Any]:
    items = [{"hot_id": 100 + i, "keyword": e["title"], "show_name": e["title"], "score": 0.0, "heat_score": e["hot"], "pos": i + 1, "word_type": 4, "icon": ""}
             for i, e in enumerate(archive("weibo-top-search")[:30])]
    return {"code": 0, "exp_str": "", "list": items, "top_list": [], "hotword_egg_info": "", "seid": "1", "timestamp": 1771720606, "total_count": len(items)}


def bilibili_popular_body(entries: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """``/x/web-interface/popular``: ``data.list[]`` of videos with ``stat``."""
    entries = archive("bilibili-hot") if entries is None else entries
    videos = [{"aid": 110_000_000 + i, "bvid": e["url"].rsplit("/", 1)[-1], "title": e["title"], "desc": e.get("summary", "-"), "pic": e.get("imageUrl", ""),
               "pubdate": 1771720000, "owner": {"mid": 1000 + i, "name": f"UP主{i}"}, "short_link_v2": e["url"],
               "stat": {"view": e["hot"], "danmaku": 100, "reply": 50, "favorite": 10, "coin": 5, "share": 3, "like": 200, "now_rank": 0, "his_rank": 0},
               "rcmd_reason": {"content": "百万播放" if e["hot"] >= 1_000_000 else ""}}
              for i, e in enumerate(entries)]
    return {"code": 0, "message": "0", "ttl": 1, "data": {"list": videos, "no_more": False}}


def douyin_body(entries: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    entries = archive("douyin-hot") if entries is None else entries
    words = [{"sentence_id": str(2_400_000 + i), "word": e["title"], "event_time": 1771720573, "hot_value": e["hot"], "position": i + 1, "label": 0}
             for i, e in enumerate(entries)]
    return {"status_code": 0, "data": {"word_list": words, "trending_list": [{"word": "实时上升热点", "hot_value": 0}]}}


def baidu_page(entries: list[dict[str, Any]] | None = None) -> bytes:
    entries = archive("baidu-hot-search") if entries is None else entries
    content = [{"word": "坚持和发展新时代“枫桥经验”", "desc": "置顶", "isTop": True, "hotScore": "0"}]
    content += [{"word": e["title"], "query": e["title"], "desc": e.get("summary", ""), "hotScore": str(e["hot"]), "rawUrl": e["url"], "index": i}
                for i, e in enumerate(entries)]
    data = {"data": {"cards": [{"component": "hotList", "content": content}]}}
    return (f"<!DOCTYPE html><html><head><title>百度热搜</title></head><body><div id=\"sanRoot\"></div>"
            f"<!--s-data:{json.dumps(data, ensure_ascii=False)}--></body></html>").encode()
