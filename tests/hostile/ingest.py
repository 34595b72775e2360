"""The ingest function under property tests (G2) and the atheris harness (bench/fuzz.py):
bytes → feed entries or a file → article → match → every captured rendering, with the
output checks of HTML-1/HTML-2 asserted on each result.

Only `SourceError` (not a feed) and `ExtractError` (not an article) may escape; anything else,
or an `AssertionError` from a check, is a finding.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import jsonschema

from monitor.errors import ExtractError, SourceError
from monitor.extract import extract
from monitor.match import Matcher
from monitor.models import FEED_ENTRY, Alert, Delivery, RawItem, Topic, TopicRef, Watchlist
from monitor.notifiers.console import render
from monitor.notifiers.jsonl import json_line
from monitor.notifiers.payload import alert_object
from monitor.pipeline import alert_id, delivery_id
from monitor.sources.feed import entry_item, parse_feed

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
CONTENT_TYPES = ("text/plain", "text/markdown", "text/html", FEED_ENTRY)
MATCHER = Matcher(Watchlist((), (Topic("probe", "Probe", any=("probe", "a", "的")),)))
_SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "contract" / "alert-v1.schema.json").read_text()
)
_UNSAFE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def ingest_feed(data: bytes) -> int:
    """Feed bytes → entries → items → `ingest_item`; returns the number of alerts rendered."""
    try:
        entries, _ttl = parse_feed(data, {}, "http://127.0.0.1/feed.xml")
    except SourceError:
        return 0
    return sum(ingest_item(entry_item(entry, "fuzz", "http://127.0.0.1/feed.xml", NOW))
               for entry in entries[:50])  # fmt: skip


def ingest_file(data: bytes, content_type: str) -> int:
    return ingest_item(RawItem("fuzz", "file.txt", data, content_type, NOW))


def ingest_item(item: RawItem) -> int:
    try:
        article = extract(item)
    except ExtractError:
        return 0
    rendered = 0
    for match in MATCHER.match(article.title, article.text):
        alert = Alert(alert_id(article.content_hash, match.topic_id), TopicRef("probe", "Probe"),
                      article, match.matched, match.found, match.snippet, NOW)  # fmt: skip
        check_rendering(alert)
        rendered += 1
    return rendered


def check_rendering(alert: Alert) -> None:
    """Console: no ESC/CR, title on its one line; jsonl: one line of valid JSON, no ESC."""
    delivery = Delivery(delivery_id(alert.id, "x"), alert, "x", "pending", 0, NOW)
    block = render(delivery)
    assert "\x1b" not in block and "\r" not in block, repr(block)
    assert not _UNSAFE_LINE.search(alert.article.title), repr(alert.article.title)
    assert not _UNSAFE_LINE.search(alert.snippet), repr(alert.snippet)
    assert block.splitlines()[0].endswith(alert.article.title)
    url = alert.article.url
    assert url is None or re.match(r"\Ahttps?://[^\s]+\Z", url, re.IGNORECASE), url
    line = json_line(alert_object(alert))
    assert line.endswith("\n") and len(line.splitlines()) == 1, repr(line)
    assert "\x1b" not in line and "<" not in line
    decoded = json.loads(line)
    assert decoded == alert_object(alert)
    jsonschema.validate(decoded, _SCHEMA)
