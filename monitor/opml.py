"""OPML 2.0 import (→ `[[feeds]]` TOML tables) and export. Pure: text in, text out.

The OPML file is the user's own, but it is still XML from elsewhere (an export of another
reader): DOCTYPE and entity declarations are refused rather than expanded.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

_SLUG = re.compile(r"[^a-z0-9]+")


class OpmlError(ValueError):
    """The file is not usable OPML."""


@dataclass(frozen=True)
class Outline:
    """One feed of an OPML file: an id made from its title (unique in the file), its URL."""

    id: str
    url: str
    title: str
    slug: str  # the id before a suffix made it unique


def read_opml(data: bytes) -> list[Outline]:
    """Every outline with an `xmlUrl`; ids are the title's slug, numbered when repeated."""
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        raise OpmlError("refused: DOCTYPE or ENTITY declarations")
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as e:
        raise OpmlError(f"not valid XML: {e}") from e
    if root.tag != "opml":
        raise OpmlError("not OPML (the root element is not <opml>)")
    outlines = []
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
        outlines.append(Outline(feed_id, url, " ".join(title.split()), base))
    if not outlines:
        raise OpmlError("no outline with an xmlUrl")
    return outlines


def import_opml(data: bytes) -> str:
    """Every outline with an `xmlUrl`, as `[[feeds]]` tables with unique ids."""
    return "\n".join(
        f"[[feeds]]\nid = {json.dumps(o.id)}\nurl = {json.dumps(o.url)}\n# title: {o.title}\n"
        for o in read_opml(data)
    )


# Where each exported feed is defined, in an attribute of our own namespace (OPML 2.0 allows
# attributes "defined in a namespace"): monitor:from = "toml" or "db".
NAMESPACE = "urn:x-monitor:opml"


def export_opml(
    feeds: Sequence[tuple[str, str, Sequence[str]]], *, origins: Mapping[str, str] | None = None
) -> str:
    """OPML 2.0 with one outline per feed (id as title, tags as category); `origins`: feed
    id → "toml" or "db", written as `monitor:from`."""
    namespace = f" xmlns:monitor={quoteattr(NAMESPACE)}" if origins else ""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        "  <head><title>monitor feeds</title></head>",
        f"  <body{namespace}>",
    ]
    for feed_id, url, tags in feeds:
        category = f" category={quoteattr(','.join(tags))}" if tags else ""
        origin = origins.get(feed_id) if origins else None
        where = f" monitor:from={quoteattr(origin)}" if origin else ""
        lines.append(
            f'    <outline type="rss" text={quoteattr(feed_id)} title={quoteattr(feed_id)} '
            f"xmlUrl={quoteattr(url)}{category}{where}/>"
        )
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)
