"""Email and console digests show a near-duplicate story once, its other articles' alerts as
`also:` lines; alerts of other stories, and of the same article for another topic, stay
blocks of their own."""

from __future__ import annotations

import dataclasses
import io

import pytest

from monitor.models import Delivery
from monitor.notifiers.console import ConsoleNotifier
from monitor.notifiers.email import EmailNotifier
from tests.notifiers.conftest import NOW, make_delivery


def same_story(delivery: Delivery, other: Delivery, source: str) -> Delivery:
    """`delivery` as a copy from `source` in the story of `other`."""
    article = dataclasses.replace(delivery.alert.article, source=source)
    alert = dataclasses.replace(delivery.alert, article=article, story_id=other.alert.story_id)
    return dataclasses.replace(delivery, alert=alert)


def digest() -> list[Delivery]:
    root = make_delivery(n=1, topic="putin")
    copy = same_story(make_delivery(n=2, topic="nato", title="北約談普丁訪問"), root, "cna")
    other = make_delivery(n=3, topic="putin", title="另一則新聞")
    same_article = make_delivery(n=1, topic="nato")  # the root's article, another topic
    return [root, other, copy, same_article]


def test_an_email_digest_shows_a_story_once() -> None:
    mail = EmailNotifier(
        "mail", host="127.0.0.1", sender="m@example.org", recipients=("a@example.org",)
    )
    message = mail.build_message(digest(), NOW)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert text.count("alert id:") == 3  # two stories, the root's article twice
    assert "also: Nato — cna: 北約談普丁訪問" in text
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert html.count("<h2>") == 3 and "also: Nato — cna: 北約談普丁訪問" in html


def test_a_console_digest_shows_a_story_once(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    ConsoleNotifier("console").send(digest(), NOW)
    printed = out.getvalue()
    assert printed.count("== ") == 3
    assert "   also: Nato — cna: 北約談普丁訪問\n" in printed
