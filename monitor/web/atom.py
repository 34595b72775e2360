"""Alerts as an Atom 1.0 feed (RFC 4287): what a feed reader needs to show each alert once.

Entry `id` = `urn:monitor:<alert id>` (the alert id is derived from article and topic, so it
never changes); `updated` = the alert's time; the alternate link is the article's URL when it
is http(s), else the alert's page; `summary` is the snippet as text. Every string is XML-
escaped and stripped of the characters XML 1.0 cannot carry (a hostile title's control
characters would otherwise make the whole feed unreadable).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from xml.sax.saxutils import escape, quoteattr

from monitor.models import Alert

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def xml_text(value: str) -> str:
    return escape(_NOT_XML.sub("", value))


def xml_attr(value: str) -> str:
    return quoteattr(_NOT_XML.sub("", value))


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def safe_link(url: str | None) -> str | None:
    """The article URL if a reader may follow it: http(s) only (never `javascript:`)."""
    if url and re.match(r"\Ahttps?://[^\s]+\Z", url, re.IGNORECASE):
        return url
    return None


def render_feed(
    *, title: str, feed_id: str, self_url: str, page_url: str, base_url: str,
    alerts: Sequence[Alert],
) -> tuple[bytes, datetime]:  # fmt: skip
    """(the feed's bytes, its `updated`: the newest alert's time, or the epoch if none)."""
    updated = max((a.created_at for a in alerts), default=EPOCH)
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n',
        f"  <id>{xml_text(feed_id)}</id>\n",
        f"  <title>{xml_text(title)}</title>\n",
        f"  <updated>{rfc3339(updated)}</updated>\n",
        "  <author><name>monitor</name></author>\n",
        f'  <link rel="self" type="application/atom+xml" href={xml_attr(self_url)}/>\n',
        f'  <link rel="alternate" type="text/html" href={xml_attr(page_url)}/>\n',
    ]
    for alert in alerts:
        page = f"{base_url}/alerts/{alert.id}"
        link = safe_link(alert.article.url) or page
        title_text = f"{alert.topic.title}: {alert.article.title or alert.article.location}"
        parts += [
            "  <entry>\n",
            f"    <id>urn:monitor:{xml_text(alert.id)}</id>\n",
            f'    <title type="text">{xml_text(title_text)}</title>\n',
            f"    <updated>{rfc3339(alert.created_at)}</updated>\n",
            f'    <link rel="alternate" href={xml_attr(link)}/>\n',
            f'    <link rel="related" type="text/html" href={xml_attr(page)}/>\n',
            f"    <category term={xml_attr(alert.topic.id)}"
            f" label={xml_attr(alert.topic.title)}/>\n",
            f'    <summary type="text">{xml_text(alert.snippet)}</summary>\n',
            "  </entry>\n",
        ]
    parts.append("</feed>\n")
    return "".join(parts).encode("utf-8"), updated
