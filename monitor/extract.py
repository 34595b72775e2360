"""Raw bytes → `Article`: decoding, the seed formats, HTML → plain text. The only bs4 and lxml user.

Pure: no clock, no I/O, no logging; a bad item raises `ExtractError` and the caller logs it.
Formats (shared/seeds/README.md): a captured feed item (`<!--ms-->`, `[title](url)`, dashes,
then the item's HTML), an HTML document, or plain text / Markdown.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from monitor.errors import ExtractError
from monitor.models import FEED_ENTRY, Article, RawItem
from monitor.text import content_hash, one_line

if TYPE_CHECKING:
    from bs4 import Tag
    from lxml.etree import _Element

TITLE_LIMIT = 1_000
FALLBACK_TITLE_LIMIT = 120

_CAPTURED_ITEM = re.compile(
    r"\A\ufeff?\s*<!--\s*(?P<captured>\d{10,16})\s*-->[ \t]*\r?\n"
    r"\[(?P<title>[^\r\n]*)\]\((?P<url>[^\s]*)\)[ \t]*\r?\n"
    r"-{3,}[ \t]*\r?\n"
)
# A marker put in front of every block-level tag before parsing, so that paragraphs, line
# breaks, headings and list items become line breaks in the text while the white space inside
# a paragraph (source line wrapping) stays a space. U+E000 is private use: removed from input.
_BLOCK_MARK = "\ue000"
_BLOCK_TAG = re.compile(
    r"<(?:/?(?:p|div|h[1-6]|li|ul|ol|dl|dt|dd|tr|td|th|table|blockquote|pre|section|article|"
    r"header|footer|aside|nav|figure|hr)\b|br\b)",
    re.IGNORECASE,
)
# Elements whose content is never article text.
_DROPPED = (
    "script", "style", "iframe", "img", "noscript", "template", "svg", "math", "object",
    "embed", "video", "audio", "picture", "figcaption", "head", "form", "button", "select",
)  # fmt: skip
_BOILERPLATE_CANDIDATES = frozenset({"small", "em", "i"})
_INSPECTED = frozenset(_DROPPED) | _BOILERPLATE_CANDIDATES
_SENTENCE_END = re.compile(r"[。！？!?]|\.(?=\s)|\n")
_WHITESPACE = re.compile(r"\s+")
# Shown to people and put in links: no white space, controls, bidi or zero-width formatting.
_HTTP_URL = re.compile(
    r"\Ahttps?://[^\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]+\Z",
    re.IGNORECASE,
)
# Locations (file names, item URLs) are shown too: controls and bidi become visible escapes.
_LOCATION_UNSAFE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]"
)
# Lone surrogates come from JSON (`"\ud800"`) or plugins; no codec (OpenCC, SQLite) takes them.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def extract(item: RawItem) -> Article:
    """Turn one raw item into an article, or raise `ExtractError` saying why not."""
    if item.content_type == FEED_ENTRY:  # encoded by the feed source itself; may be empty
        raw = item.content.decode("utf-8", errors="replace")
    else:
        raw = decode(item.content, item.location)
    raw = _scrub(raw)
    end_markers: Sequence[str] = item.meta.get("end_markers", ())
    url: str | None = None
    published: datetime | None = None
    header = _CAPTURED_ITEM.match(raw)
    if item.content_type == FEED_ENTRY:
        text, _found = html_to_text(raw, published_marker=False)
        title = _scrub(str(item.meta.get("title") or ""))
        if "<" in title or "&" in title:  # some feeds put markup or entities in titles
            title = html_to_text(title, published_marker=False)[0]
        url = item.meta.get("url")
        published = item.meta.get("published")
    elif header:
        title = header["title"]
        url = header["url"]
        text, found = html_to_text(raw[header.end() :], published_marker=True)
        published = found.get("published")
    elif item.content_type == "text/html" or _looks_like_html_document(raw):
        text, found = html_to_text(raw, published_marker=False)
        title = found.get("title", "")
    else:
        title, text = _plain_text(raw, markdown=item.content_type == "text/markdown")
    text = _cut_at_end_marker(text, end_markers)
    title = one_line(title, TITLE_LIMIT) or _first_sentence(text)
    if not text and not title:
        raise ExtractError(item.location, "no text after extraction")
    url = _scrub(url) if url and _HTTP_URL.match(url) else None
    digest = content_hash(text, title=title, url=url)
    article = Article(
        source=item.source,
        location=_LOCATION_UNSAFE.sub(lambda m: ascii(m.group(0))[1:-1], _scrub(item.location)),
        url=url,
        guid=_scrub(guid) if isinstance(guid := item.meta.get("guid"), str) else None,
        title=title,
        text=text,
        published=published,
        content_hash=digest,
    )
    return article


def _scrub(text: str) -> str:
    return _SURROGATE.sub("\ufffd", text)


def decode(data: bytes, location: str) -> str:
    """Bytes → text: UTF-8 (with or without BOM), UTF-16/32 with BOM, else charset detection."""
    if not data.strip():
        raise ExtractError(location, "empty file")
    for bom, codec in (
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return _reject_binary(data.decode(codec), location)
            except UnicodeDecodeError as e:
                raise ExtractError(location, f"undecodable {codec}: {e.reason}") from e
    if b"\x00" in data[:8192]:
        raise ExtractError(location, "binary file (NUL bytes)")
    try:
        return _reject_binary(data.decode("utf-8"), location)
    except UnicodeDecodeError:
        pass
    # GB18030 and Big5 files exist in the wild; charset detection tells them apart far better
    # than trying codecs in order (GB18030 accepts most Big5 byte strings, as gibberish).
    import charset_normalizer

    best = charset_normalizer.from_bytes(data[:262_144]).best()
    if best is None or best.encoding not in _ACCEPTED_LEGACY_ENCODINGS:
        raise ExtractError(location, "undecodable: not UTF-8, and no known legacy encoding fits")
    return _reject_binary(data.decode(best.encoding, errors="replace"), location)


_ACCEPTED_LEGACY_ENCODINGS = frozenset(
    {"gb18030", "gbk", "gb2312", "big5", "big5hkscs", "cp950", "cp936", "euc_jp", "shift_jis",
     "cp932", "euc_kr", "cp949", "cp1252", "latin_1", "iso8859_15", "cp1251", "koi8_r"}
)  # fmt: skip


def _reject_binary(text: str, location: str) -> str:
    sample = text[:8192]
    controls = sum(1 for c in sample if c < " " and c not in "\t\n\r\f")
    if controls > max(8, len(sample) // 100):
        raise ExtractError(location, "binary file (control characters)")
    return text


# Markup that beautifulsoup4 reads into another tree than libxml2 builds from the same parse
# events: document structure (`<html>`, `<head>`, `<body>`: bs4 closes them where the markup
# says, libxml2 keeps them open until the end) and ruby annotations (bs4 keeps `<rt>`/`<rp>`
# strings out of the text by a stack of its own). Feed entries seldom hold any of these.
_NEEDS_SOUP = re.compile(r"</?(?:html|head|body|rt|rp)\b", re.IGNORECASE)
# Elements whose strings bs4's get_text() leaves out (its string containers).
_UNSPOKEN = ("rt", "rp", "script", "style", "template")


def html_to_text(html: str, *, published_marker: bool) -> tuple[str, dict[str, Any]]:
    """HTML → plain text with one line per block; also returns metadata found on the way.

    `published_marker`: the captured-item format puts the published time in the first
    `<div><i>`; that element is metadata and is removed from the text.

    beautifulsoup4 (with the lxml builder) defines the text. It builds its tree in Python, a
    node at a time: 1.3–1.7 ms per feed article, the largest cost of a first poll. A fragment
    without the markup bs4 reads differently (`_NEEDS_SOUP`) is read from lxml's own tree
    instead, the same libxml2 parse with the same rules applied, about 10× faster; the two
    give the same text on every item of tests/data and the feedparser corpus and on random
    tag soup (tests/test_extract_lxml.py), so the content hash does not depend on the path.
    """
    html = _BLOCK_TAG.sub(lambda m: _BLOCK_MARK + m.group(0), html.replace(_BLOCK_MARK, ""))
    if _NEEDS_SOUP.search(html):
        return soup_to_text(html, published_marker=published_marker)
    return _tree_to_text(html, published_marker)


def soup_to_text(html: str, *, published_marker: bool) -> tuple[str, dict[str, Any]]:
    """`html_to_text` through beautifulsoup4, for `html` already block-marked."""
    # Imported here, not at the top: bs4 (with lxml) costs ~130 ms, and a process that never
    # extracts (`run --once` with parse workers on a 304 poll, most commands) never pays it.
    from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, Tag, XMLParsedAsHTMLWarning

    with warnings.catch_warnings():  # hostile input is expected here; say nothing about it
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(html, "lxml")
    found: dict[str, Any] = {}
    title_tag = soup.find("title")
    title_tag = title_tag if title_tag is not None else soup.find("h1")
    if title_tag is not None:
        found["title"] = title_tag.get_text().replace(_BLOCK_MARK, " ")
    # One pass over the tree: find_all with a list of names costs ~10x more here.
    candidates = [t for t in soup.descendants if isinstance(t, Tag) and t.name in _INSPECTED]
    for tag in candidates:
        if tag.decomposed:
            continue
        if tag.name in _BOILERPLATE_CANDIDATES:
            _drop_boilerplate(tag, found, published_marker)
        else:
            tag.decompose()
    return _lines(soup.get_text()), found


def _lines(text: str) -> str:
    lines = (_WHITESPACE.sub(" ", part).strip() for part in text.split(_BLOCK_MARK))
    return "\n".join(line for line in lines if line)


def _drop_boilerplate(tag: Tag, found: dict[str, Any], published_marker: bool) -> None:
    """Image captions, the copyright line and the published-time marker are not article text."""
    parent = tag.parent
    drop = _boilerplate(
        tag.name,
        parent.name if parent is not None else "",
        tag.get_text().replace(_BLOCK_MARK, "").strip(),
        found,
        published_marker,
    )
    if drop == "tag":
        tag.decompose()
    elif drop == "parent":
        assert parent is not None
        parent.decompose()


def _boilerplate(
    name: str, parent_name: str, text: str, found: dict[str, Any], published_marker: bool
) -> str | None:
    """What to drop for a boilerplate candidate: "tag", "parent" or None (both trees)."""
    if name == "small" and parent_name == "div":
        return "tag"
    if name == "em" and parent_name == "p" and text.startswith("©"):
        return "parent"
    if (
        name == "i"
        and published_marker
        and parent_name == "div"
        and "published" not in found
        and (published := _parse_time(text)) is not None
    ):
        found["published"] = published
        return "tag"
    return None


# --- the same rules on lxml's tree ---------------------------------------------------------


def _tree_to_text(html: str, published_marker: bool) -> tuple[str, dict[str, Any]]:
    """`soup_to_text`'s rules on the tree libxml2 builds: the parser bs4 drives, fed the same
    way (one `feed`, then `close`; a leading BOM dropped as bs4 drops it). A dropped element
    is emptied in place (`clear(keep_tail=True)`): the text after it stays, and setting text
    would refuse the control characters that parsed text may hold."""
    from lxml import etree

    parser = etree.HTMLParser(recover=True)
    parser.feed(html[1:] if html.startswith("\ufeff") else html)
    root = parser.close()
    found: dict[str, Any] = {}
    if root is None:  # nothing but white space, comments or a doctype
        return "", found
    title_tag = next(root.iter("title"), None)
    if title_tag is None:
        title_tag = next(root.iter("h1"), None)
    if title_tag is not None:
        found["title"] = _element_text(title_tag).replace(_BLOCK_MARK, " ")
    for tag in list(root.iter(*_INSPECTED)):
        if not _attached(tag, root):  # inside an element already dropped
            continue
        if tag.tag not in _BOILERPLATE_CANDIDATES:
            tag.clear(keep_tail=True)
            continue
        parent = tag.getparent()
        parent_name = parent.tag if parent is not None else ""
        text = _element_text(tag).replace(_BLOCK_MARK, "").strip()
        drop = _boilerplate(tag.tag, str(parent_name), text, found, published_marker)
        if drop == "tag":
            tag.clear(keep_tail=True)
        elif drop == "parent" and parent is not None:
            parent.clear(keep_tail=True)
    # Every `_UNSPOKEN` element left is an emptied one (rt and rp go to bs4): no walk needed.
    return _lines(etree.tostring(root, method="text", encoding=str, with_tail=False)), found


def _element_text(element: _Element) -> str:
    """The element's text as bs4's get_text() gives it: no comments, processing instructions
    or strings of `_UNSPOKEN` elements; not the element's tail."""
    from lxml import etree

    if next(element.iter(*_UNSPOKEN), None) is None:
        return etree.tostring(element, method="text", encoding=str, with_tail=False)
    parts: list[str] = []
    _spoken(element, parts)
    return "".join(parts)


def _spoken(element: _Element, parts: list[str]) -> None:
    if not isinstance(element.tag, str) or element.tag in _UNSPOKEN:
        return  # a comment, a processing instruction, or no text of bs4's
    if element.text:
        parts.append(element.text)
    for child in element:
        _spoken(child, parts)
        if child.tail:
            parts.append(child.tail)


def _attached(element: _Element, root: _Element) -> bool:
    """Still in the tree (no ancestor was dropped)? libxml2 nests at most 256 deep."""
    node: _Element | None = element
    while node is not None:
        if node is root:
            return True
        node = node.getparent()
    return False


def _parse_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _looks_like_html_document(raw: str) -> bool:
    head = raw.lstrip("\ufeff \t\r\n")[:256].lower()
    return head.startswith(("<!doctype html", "<html"))


def _plain_text(raw: str, *, markdown: bool) -> tuple[str, str]:
    """Plain text keeps its lines; a Markdown `# ` first line is the title."""
    lines = [line.strip() for line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    title = ""
    if markdown:
        for index, line in enumerate(lines):
            if not line:
                continue
            if line.startswith("# "):
                title = line[2:].strip()
                del lines[index]
            break
    text = "\n".join(_WHITESPACE.sub(" ", line) for line in lines if line)
    return title, text


def _cut_at_end_marker(text: str, end_markers: Sequence[str]) -> str:
    """Drop everything from the first line that starts with an end marker (page chrome)."""
    if not end_markers:
        return text
    markers = tuple(end_markers)
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if line.lstrip().startswith(markers):
            return "\n".join(lines[:index])
    return text


def _first_sentence(text: str) -> str:
    match = _SENTENCE_END.search(text, 0, FALLBACK_TITLE_LIMIT * 4)
    sentence = text[: match.end()] if match else text
    return one_line(sentence.strip(), FALLBACK_TITLE_LIMIT)
