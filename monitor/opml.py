"""OPML 2.0 import (→ `[[feeds]]` TOML tables) and export. Pure: text in, text out.

The OPML file is the user's own, but it is still XML from elsewhere (an export of another
reader): DOCTYPE and entity declarations are refused rather than expanded.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from xml.sax.saxutils import quoteattr

_SLUG = re.compile(r"[^a-z0-9]+")


class OpmlError(ValueError):
    """The file is not usable OPML."""


def import_opml(data: bytes) -> str:
    """Every outline with an `xmlUrl`, as `[[feeds]]` tables with unique ids."""
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        raise OpmlError("refused: DOCTYPE or ENTITY declarations")
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as e:
        raise OpmlError(f"not valid XML: {e}") from e
    if root.tag != "opml":
        raise OpmlError("not OPML (the root element is not <opml>)")
    tables = []
    used: set[str] = set()
    for outline in root.iter("outline"):
        url = outline.get("xmlUrl")
        if not url:
            continue
        title = outline.get("title") or outline.get("text") or url
        base = _SLUG.sub("-", title.lower()).strip("-")[:40] or "feed"
        feed_id, n = base, 2
        while feed_id in used:
            feed_id, n = f"{base}-{n}", n + 1
        used.add(feed_id)
        tables.append(
            f"[[feeds]]\nid = {json.dumps(feed_id)}\nurl = {json.dumps(url)}\n"
            f"# title: {' '.join(title.split())}\n"
        )
    if not tables:
        raise OpmlError("no outline with an xmlUrl")
    return "\n".join(tables)


def export_opml(feeds: Sequence[tuple[str, str, Sequence[str]]]) -> str:
    """OPML 2.0 with one outline per feed (id as title, tags as category)."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        "  <head><title>monitor feeds</title></head>",
        "  <body>",
    ]
    for feed_id, url, tags in feeds:
        category = f" category={quoteattr(','.join(tags))}" if tags else ""
        lines.append(
            f'    <outline type="rss" text={quoteattr(feed_id)} title={quoteattr(feed_id)} '
            f"xmlUrl={quoteattr(url)}{category}/>"
        )
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)
