"""One answer to "is this an http(s) URL?" (``weburl``), and every place that asks it.

The properties: ``parse_web_url`` never raises on any value; what it accepts, httpx and
urllib accept too and read the same scheme, host and port; well-formed URLs of every
host kind are accepted. Then each component that used to have its own check (config,
chat channels, source options, the console's and the mail's links, the RSS fast path)
answers like ``weburl`` on the same tricky addresses.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx
import idna
import pytest
from click.testing import CliRunner
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.provisional import domains

from monitor.cli.commands import cli
from weburl import MAX_LENGTH, is_web_url, parse_web_url

GOOD = [
    "https://oapi.dingtalk.com/robot/send?access_token=abc123",
    "http://127.0.0.1:8080/hook",
    "http://[::1]:8080/x",
    "HTTPS://Example.COM/Path",
    "http://例子.测试/帖子?id=1",
    "http://user:pw@hooks.example:8443/p?q=1#frag",
    "http://localhost",
    "http://x_y.example./",
    "https://rsshub.example.org/weibo/keyword/艾克美",
]
BAD = [
    "https:///nohost",  # the case: no host at all
    "http://:80/",
    "http://user@/x",
    "https:nohost",
    "http:/one-slash.example",
    "//example.com/x",
    "example.com",
    "javascript:alert(1)",
    "data:text/html,hi",
    "ftp://example.com/x",
    "tag:example.com,2024:1",
    "http://a b.example/",
    "http://example.com/a b",
    " http://example.com/",
    "http://example.com/\n",
    "http://example.com/\u202egpj.exe",
    "http://evil.example\\@bank.example/",
    "http://a@b@c.example/",
    "http://example.com:0/",
    "http://example.com:65536/",
    "http://example.com:8o/",
    "http://example.com:/",
    "http://[::1/",
    "http://[::1]x/",
    "http://[fe80::1%25eth0]/",
    "http://[1.2.3.4]/",
    "http://999.1.1.1/",
    "http://1.2.3/",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://1.2.3.4./",
    "http://a..b/",
    "http://.example/",
    "http://exa%6dple.com/",
    "http://" + "a" * 64 + ".example/",
    "http://" + ".".join(["a" * 63] * 4) + "/",
    "http://例子..测试/",
    "http://example.com/" + "x" * MAX_LENGTH,
]


@pytest.mark.parametrize("url", GOOD)
def test_well_formed_web_urls_are_accepted(url: str) -> None:
    parts = parse_web_url(url)
    assert parts is not None and parts.scheme in ("http", "https") and parts.hostname
    assert is_web_url(url)


@pytest.mark.parametrize("url", BAD)
def test_addresses_the_daemon_cannot_use_are_refused(url: str) -> None:
    assert parse_web_url(url) is None
    assert not is_web_url(url)


@pytest.mark.parametrize("value", [None, 1, b"http://example.com/", ["http://example.com/"], object()])
def test_anything_but_text_is_not_a_url(value: object) -> None:
    assert parse_web_url(value) is None


def _agrees_with_httpx_and_urllib(url: str) -> None:
    parts = parse_web_url(url)
    assert parts is not None
    theirs = httpx.URL(url)  # raises InvalidURL if httpx cannot use it
    assert theirs.scheme == parts.scheme
    host = parts.hostname or ""
    ascii_host = host if host.isascii() else idna.encode(host).decode("ascii")
    assert theirs.raw_host.decode("ascii").lower() == ascii_host  # httpx keeps an IPv6 address's case
    default = {"http": 80, "https": 443}[parts.scheme]
    assert (theirs.port or default) == (parts.port or default)
    again = urlsplit(url)
    assert (again.scheme, again.hostname, again.port) == (parts.scheme, parts.hostname, parts.port)


@settings(max_examples=500)
@given(st.text())
@example("https:///nohost")
@example("http://[")
@example("http://a:99999999999999999999999")
@example("http://1a2b3c4/")
def test_never_raises_on_any_text_and_what_it_accepts_httpx_and_urllib_read_alike(text: str) -> None:
    if parse_web_url(text) is not None:
        _agrees_with_httpx_and_urllib(text)
    for prefixed in ("http://" + text, "https://" + text):
        if parse_web_url(prefixed) is not None:
            _agrees_with_httpx_and_urllib(prefixed)


_SAFE = st.characters(codec="utf-8", exclude_categories=("Cc", "Cf", "Cs", "Zs", "Zl", "Zp"), exclude_characters="\\")
_PATH = st.text(_SAFE, max_size=30).map(lambda s: "/" + s.replace("?", "").replace("#", ""))
_IDN = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1, max_size=6)
_HOSTS = st.one_of(
    domains(),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda ip: f"[{ip}]"),
    st.lists(_IDN, min_size=1, max_size=3).map(".".join),
)
_URLS = st.builds(
    lambda scheme, user, host, port, path, query: f"{scheme}://{user}{host}{port}{path}{query}",
    st.sampled_from(["http", "https", "HTTP", "Https"]),
    st.one_of(st.just(""), st.from_regex(r"[a-z0-9]{1,8}(:[A-Za-z0-9]{1,8})?@", fullmatch=True)),
    _HOSTS,
    st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}")),
    st.one_of(st.just(""), _PATH),
    st.one_of(st.just(""), st.text(_SAFE, max_size=20).map(lambda q: "?" + q.replace("#", ""))),
)


@settings(max_examples=300)
@given(_URLS)
def test_every_kind_of_well_formed_url_is_accepted_and_read_alike(url: str) -> None:
    _agrees_with_httpx_and_urllib(url)


@settings(max_examples=500)
@given(_URLS, st.integers(0, 200), st.characters())
def test_a_url_with_any_character_put_anywhere_is_refused_or_read_alike(url: str, where: int, char: str) -> None:
    where = min(where, len(url))
    mutated = url[:where] + char + url[where:]
    if parse_web_url(mutated) is not None:
        _agrees_with_httpx_and_urllib(mutated)


# -- every place that asks, answering alike --------------------------------------------

ASKED = [
    "https:///nohost",
    "http://:80/",
    "http://999.1.1.1/",
    "http://evil.example\\@bank.example/",
    "http://example.com:0/",
    "https://hooks.example/x y",
    "https://hooks.example/robot",
    "http://127.0.0.1:9/hook",
]


@pytest.mark.parametrize("url", ASKED)
def test_chat_config_and_chat_channel_agree_with_weburl(tmp_path: Path, url: str) -> None:
    from alerts.chat import make_chat_channel
    from tests.conftest import write_config

    config = write_config(tmp_path, f'\n[alerts.chat.robot]\nkind = "webhook"\nurl = "{url}"\n'.replace("\\", "\\\\"))
    checked = CliRunner().invoke(cli, ["-c", str(config), "check"])
    assert "Traceback" not in checked.output
    with httpx.Client() as client:
        try:
            make_chat_channel("webhook", "robot", url, client)
            built = True
        except ValueError:
            built = False
    assert built == is_web_url(url)
    assert (checked.exit_code == 0) == is_web_url(url), checked.output
    if not is_web_url(url):
        assert "alerts.chat.robot.url: " in checked.stderr


def test_a_chat_url_from_the_environment_is_checked_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import write_config

    monkeypatch.setenv("ROBOT_URL", "https:///secret-token-in-path")
    config = write_config(tmp_path, '\n[alerts.chat.robot]\nkind = "dingtalk"\nurl_env = "ROBOT_URL"\n')
    checked = CliRunner().invoke(cli, ["-c", str(config), "check"])
    assert checked.exit_code == 2
    assert "alerts.chat.robot.url_env: " in checked.stderr and "ROBOT_URL" in checked.stderr
    assert "secret-token" not in checked.output  # the value may be a token: never shown


@pytest.mark.parametrize("url", ASKED)
def test_source_options_links_and_the_rss_fast_path_agree_with_weburl(url: str) -> None:
    from datetime import UTC

    from alerts.render import Renderer
    from monitor.report.render import _environment as report_environment
    from monitor.web.requests import href
    from sources.options import Option, validate_options
    from sources.rssfast import _stable_url

    _, problems = validate_options({"url": Option("url", "a feed", required=True)}, {"url": url})
    assert (problems == []) == is_web_url(url)
    assert (href(url) == url) == is_web_url(url)
    assert (Renderer(UTC).env.filters["href"](url) == url) == is_web_url(url)
    assert (report_environment().filters["href"](url) == url) == is_web_url(url)
    if not is_web_url(url):
        assert not _stable_url(url, url)


@pytest.mark.parametrize(
    "base_url, fine",
    [
        ("https://monitor.example.com", True),
        ("https://monitor.example.com/", True),
        ("http://[::1]:8080", True),
        ("HTTPS://Monitor.example.com", True),
        ("https:///", False),
        ("https://:443", False),
        ("https://monitor.example.com/console", False),
        ("https://monitor.example.com?x=1", False),
        ("https://monitor.example.com#top", False),
        ("https://user:pw@monitor.example.com", False),
        ("https://monitor.example.com:99999", False),
        ("https://999.1.1.1", False),
    ],
)
def test_web_base_url_is_a_web_url_without_a_path(tmp_path: Path, base_url: str, fine: bool) -> None:
    from monitor.config import ConfigError, load_config
    from sources import source_kinds
    from tests.conftest import write_config

    config = write_config(tmp_path, f'\n[web]\nlisten = "127.0.0.1:8080"\nbase_url = "{base_url}"\n')
    if fine:
        web = load_config(config, source_kinds()).web
        assert web is not None and web.base_url.startswith(("http://", "https://"))
        return
    with pytest.raises(ConfigError) as err:
        load_config(config, source_kinds())
    assert [p.split(":", 1)[0] for p in err.value.problems] == ["web.base_url"]


# -- where it sits ---------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"weburl": set(), "sources": {"weburl"}, "alerts": {"weburl"}, "monitor": {"weburl", "sources", "alerts"}}


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_dependencies_point_one_way(package: str) -> None:
    """``monitor`` imports ``sources`` and ``alerts``, which import neither it nor each
    other; all of them may import ``weburl``, which imports none of them."""
    import ast

    ours = set(LAYERS)
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            for name in names:
                top = name.split(".")[0]
                assert top not in ours - {package} - LAYERS[package], f"{path.relative_to(ROOT)} imports {name}"
