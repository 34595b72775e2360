"""The lxml reading of HTML gives bs4's text: the content hash must not depend on which one ran.

`extract.html_to_text` reads a fragment from lxml's own tree and sends markup that bs4 reads
into another tree (document structure, ruby) to beautifulsoup4. These tests hold the fast path
to bs4's text on real content (every file and feed entry of tests/data, the seed articles) and
on random tag soup built from the constructs where tree builders part ways.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import feedparser
import pytest

from monitor import extract

ROOT = Path(__file__).resolve().parent.parent
# Where parsers disagree: stray end tags, tables, raw-text elements, comments and processing
# instructions, entities (one undefined, one NUL), control characters, the block marker itself,
# the boilerplate rules' shapes (copyright line, captions, published-time marker).
SOUP = (
    "<p>", "</p>", "<div>", "</div>", "<i>", "</i>", "<em>", "</em>", "<small>", "</small>",
    "©", "2024-01-02T03:04:05Z", "<script>var a='<p>';</script>", "<style>p{}</style>",
    "<!-- c -->", "<![CDATA[x]]>", "<?pi x?>", "<br>", "<br/>", "<title>", "</title>", "<h1>",
    "</h1>", "<ruby>", "</ruby>", "&amp;", "&nbsp;", "&foo;", "&#x41;", "&#0;", " ", "\n", "\t",
    "文字", "word", "<img src=x>", "<table><tr><td>", "</td></tr></table>", "<li>", "<ul>",
    "</ul>", "<svg><title>s</title></svg>", "<noscript>n</noscript>", "<template>t</template>",
    "<a href='x'>", "</a>", "<", ">", "&", "<b", "\ue000", "\ufeff", "<!DOCTYPE html>",
    "<figure><figcaption>cap</figcaption></figure>", "<o:p>", "</o:p>", "<form>", "</form>",
    "<select><option>o</select>", "\r\n", "\x0c", "<table>", "<tr>", "<td>", "</table>",
    "<textarea>", "</textarea>", "<pre>", "</pre>", "<xmp>", "<plaintext>", "<iframe>",
    "</iframe>", "<math>", "</svg>", "<svg>", "<frameset>", "<meta charset=gbk>", "<!", "-->",
    "</", "<p/>", "<dl><dt>", "<button>", "<h2>", "</h2>", "<span>", "</span>",
    "<html>", "</html>", "<head>", "</head>", "<body>", "</body>", "<rt>", "</rt>", "<rp>",
)  # fmt: skip


def _marked(html: str) -> str:
    return extract._BLOCK_TAG.sub(
        lambda m: extract._BLOCK_MARK + m.group(0), html.replace(extract._BLOCK_MARK, "")
    )


def _comparable(result: tuple[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The text, and what was found with the title's white space folded: bs4 folds a string
    of white space alone to one character, and `extract` folds every title to one line."""
    text, found = result
    if "title" in found:
        found = {**found, "title": " ".join(found["title"].split())}
    return text, found


def _assert_same(html: str) -> None:
    for marker in (False, True):
        fast = extract.html_to_text(html, published_marker=marker)
        soup = extract.soup_to_text(_marked(html), published_marker=marker)
        assert _comparable(fast) == _comparable(soup), repr(html[:500])


def _real_html() -> Iterator[str]:
    """Every file under tests/data and seeds/, and every feed entry's HTML in them."""
    paths = sorted(p for p in (ROOT / "tests" / "data").rglob("*") if p.is_file())
    paths += sorted((ROOT / "seeds").glob("*"))
    for path in paths:
        data = path.read_bytes()
        yield data.decode("utf-8", errors="replace")
        if path.suffix not in {".xml", ".rss", ".atom", ".rdf"}:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False)
        for entry in parsed.entries:
            yield from (c.get("value", "") for c in entry.get("content", []))
            yield entry.get("summary", "")


def test_every_real_item_gets_the_same_text_from_both_readings() -> None:
    samples = list(_real_html())
    fragments = [s for s in samples if not extract._NEEDS_SOUP.search(_marked(s))]
    assert len(samples) > 2_000 and len(fragments) > 1_000  # the corpus is there, both paths run
    for html in samples:
        _assert_same(html)


@pytest.mark.parametrize("seed", range(4))
def test_random_tag_soup_gets_the_same_text_from_both_readings(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(1_500):
        _assert_same("".join(rng.choice(SOUP) for _ in range(rng.randint(1, 50))))


def test_a_fragment_is_read_without_building_a_soup(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_soup(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("bs4 was used for a plain fragment")

    monkeypatch.setattr(extract, "soup_to_text", no_soup)
    text, found = extract.html_to_text(
        "<p>普丁<em>抵達</em>北京</p><figure><img src=x><figcaption>圖說</figcaption></figure>"
        "<p><em>© 2026 中央社</em></p><div><i>2026-12-07T01:02:03Z</i></div><p>第二段\x0c</p>",
        published_marker=True,
    )
    assert text == "普丁抵達北京\n第二段"
    assert found["published"].isoformat() == "2026-12-07T01:02:03+00:00"


@pytest.mark.parametrize(
    "html", ["<html><body><p>a</p></body></html>", "<p>漢<ruby>字<rt>zì</rt></ruby></p>"]
)
def test_documents_and_ruby_go_to_beautifulsoup(html: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_tree(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("lxml's tree was read for markup bs4 reads differently")

    monkeypatch.setattr(extract, "_tree_to_text", no_tree)
    assert "zì" not in extract.html_to_text(html, published_marker=False)[0]


def test_deep_and_wide_hostile_fragments_are_read() -> None:
    """libxml2 stops nesting at 256 levels; 200,000 boilerplate candidates are each looked at
    once (bs4 took minutes on the nested one)."""
    text, _ = extract.html_to_text("<div><i>x" * 200_000, published_marker=True)
    assert text.startswith("x") and len(text) < 1_000
    text, _ = extract.html_to_text("<p><i>x</i>y</p>" * 200_000, published_marker=False)
    assert text.count("xy") == 200_000
