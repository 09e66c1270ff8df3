"""HTML to text on hostile markup: the linear scanner (sources/text.py) against the
standard library's html.parser, which it replaced, each as a ratio to the scanner on
ordinary HTML of the same size measured in the same run.

    .venv/bin/python bench/text.py [--size 200000] [--old-size 40000]

html.parser is quadratic on these inputs, so it runs at a smaller size (``--old-size``);
its ratio is to ordinary HTML of *that* size.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sources.text import html_to_text

HOSTILE = {"<a": "<a", "<a (with a closing > at the end)": "<a", '<a x="': '<a x="', "</": "</", "<!--": "<!--", "&#": "&#", "\u3000": "\u3000"}
ORDINARY = "<p>艾克美保温杯<b>烫伤</b>了孩子 &amp; 记者</p>"


class _Stdlib(HTMLParser):
    """What sources/text.py did before: html.parser collecting data."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def stdlib(markup: str) -> str:
    if not re.search(r"<[a-zA-Z!/][^>]*>|&[a-zA-Z#][a-zA-Z0-9]*;", markup):  # the old detection regex, quadratic too
        return markup.strip()
    parser = _Stdlib()
    parser.feed(markup)
    parser.close()
    return "".join(parser.parts)


def best(fn, markup: str, runs: int = 3) -> float:
    fastest = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        fn(markup)
        fastest = min(fastest, time.perf_counter() - started)
    return fastest


def work(piece: str, size: int, closed: bool) -> str:
    """``piece`` repeated to ``size`` after one real tag (so the markup is read, not
    passed over as plain text), optionally with one ">" at the very end."""
    text = "<p>x</p>" + piece * ((size - 9) // len(piece))
    return text + ">" if closed else text


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    args.add_argument("--size", type=int, default=200_000)
    args.add_argument("--old-size", type=int, default=40_000)
    opts = args.parse_args()
    base_new = best(html_to_text, (ORDINARY * opts.size)[: opts.size])
    base_old = best(stdlib, (ORDINARY * opts.old_size)[: opts.old_size])
    print(f"baseline: ordinary HTML, {opts.size:,} chars {base_new * 1000:.1f} ms (scanner); {opts.old_size:,} chars {base_old * 1000:.1f} ms (html.parser)")
    print(f"{'input':<34} {'scanner ×baseline':>18} {'html.parser ×baseline':>22}")
    for name, piece in HOSTILE.items():
        closed = "closing" in name
        new = best(html_to_text, work(piece, opts.size, closed)) / base_new
        old = best(stdlib, work(piece, opts.old_size, closed), runs=1) / base_old
        print(f"{name!r:<34} {new:>18.2f} {old:>22.1f}")


if __name__ == "__main__":
    main()
